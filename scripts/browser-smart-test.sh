#!/usr/bin/env bash
# Browser test of OHIF with login (tests/browser/ohif-login.test.mjs): the viewer the example
# server serves, logging in at the demo identity provider when the server runs in the `smart`
# profile (docs/security.md, "Viewer login").
#
#   scripts/browser-smart-test.sh
#
# 1. starts Keycloak (scripts/idp.sh start; the contract is its last stdout line) and stops it at
#    the end, also on failure (EXIT trap, after the server);
# 2. starts the example server on a free loopback port with a throwaway database in the smart
#    profile (--spring.profiles.active=smart --dicomfhir.smart.issuer=<issuer>): /app-config.js
#    then carries an `oidc` entry for that issuer (ViewerAppConfigController);
# 3. makes one small CT study for patient A (PatientID SMART-PATIENT-A) and one for patient B, which
#    the test uploads with the system client's token (client_credentials);
# 4. in headless Chromium: the viewer redirects to Keycloak's login, patient A logs in (code +
#    PKCE), the study list shows A's study and not B's, A's study renders; then A's access token
#    (from the page's OIDC session storage) gets 200 on A's WADO-RS URLs and 403 on B's.
#
# Prerequisites and installation as scripts/browser-test.sh (Chromium, npm ci, OHIF, server JAR,
# .venv); the first run of a machine also downloads and builds Keycloak (scripts/idp.sh).
#
# Environment: CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default target/browser-smart-test:
# screenshots, failure.png on failure, the DICOMweb request log, the server and Keycloak logs),
# BROWSER_TEST_SLICES (CT slices per study, default 4), IDP_PORT and IDP_RUN_DIR (passed to
# scripts/idp.sh; its defaults when unset: port 18180, .data/idp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

. scripts/lib/browser.sh
browser_prepare browser-smart-test.sh jq curl

artifacts=${ARTIFACTS:-$root/target/browser-smart-test}
rm -rf "$artifacts"
mkdir -p "$artifacts"
idp_log="${IDP_RUN_DIR:-$root/.data/idp}/keycloak.log"
# server.sh's EXIT trap stops the server first, then runs these hooks in order. Keycloak is stopped
# only if this script started it: `start` refuses (exit 2) when one is already running in the same
# run dir, which may be somebody else's.
idp_ours=no
server_init browser-smart
server_at_exit 'cp "$(server_log server)" "$artifacts/" 2>/dev/null'
server_at_exit 'cp "$idp_log" "$artifacts/" 2>/dev/null'
server_at_exit '[ "$idp_ours" = no ] || ./scripts/idp.sh stop'
py="$venv/bin/python"
for who in A B; do
  "$py" tests/browser/make_study.py .data "$SERVER_WORK/study-$who" "${BROWSER_TEST_SLICES:-4}" "SMART-PATIENT-$who" >/dev/null
done

echo "== Keycloak (scripts/idp.sh start)"
t0=$SECONDS
idp_ours=yes
set +e
./scripts/idp.sh start > "$SERVER_WORK/idp.out"
idp_rc=$?
set -e
if [ "$idp_rc" = 2 ]; then
  idp_ours=no
  echo "browser-smart-test.sh: a Keycloak is already running in ${IDP_RUN_DIR:-.data/idp}; stop it or set IDP_RUN_DIR/IDP_PORT" >&2
  exit 1
fi
[ "$idp_rc" = 0 ] || { echo "browser-smart-test.sh: scripts/idp.sh start failed ($idp_rc)" >&2; exit 1; }
tail -n 1 "$SERVER_WORK/idp.out" > "$SERVER_WORK/idp-contract.json"
issuer=$(jq -r .issuer "$SERVER_WORK/idp-contract.json")
idp_seconds=$((SECONDS - t0))
echo "== Keycloak ready in ${idp_seconds}s: $issuer"

t0=$SECONDS
server_start server -XX:TieredStopAtLevel=1 -- \
  --example.data-dir="$SERVER_WORK/data" --example.viewer-dir="$root/.viewer/ohif" \
  --spring.profiles.active=smart --dicomfhir.smart.issuer="$issuer"
server_wait server
base=$(server_url server)
server_wait_log server "OHIF viewer: " 60
server_seconds=$((SECONDS - t0))
echo "== server ready in ${server_seconds}s: $base (smart profile)"

echo "== OHIF login in headless Chromium against $base (artifacts: $artifacts)"
t0=$SECONDS
DICOMFHIR_SERVER="$base" IDP_CONTRACT="$SERVER_WORK/idp-contract.json" \
  STUDY_A="$SERVER_WORK/study-A/manifest.json" STUDY_B="$SERVER_WORK/study-B/manifest.json" \
  ARTIFACTS="$artifacts" CHROMIUM="$chromium" \
  node tests/browser/ohif-login.test.mjs \
  || { server_log_tail server; exit 1; }
echo "== passed: Keycloak start ${idp_seconds}s, server start ${server_seconds}s, browser test $((SECONDS - t0))s"
