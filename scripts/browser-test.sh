#!/usr/bin/env bash
# Browser test of the OHIF viewer the example server serves (tests/browser/ohif-viewer.test.mjs):
# Debian's Chromium, headless, driven by playwright-core. From a fresh machine: installs Chromium
# (apt, when missing) and the test's npm packages (npm ci, pinned), fetches OHIF, builds the server
# JAR when it is missing, starts it on a free loopback port with a throwaway database, uploads a
# small CT series, opens it in OHIF, and stops the server (scripts/lib/server.sh: the jar is
# $DICOMFHIR_JAR, else the built one).
#
#   scripts/browser-test.sh
#
# Environment: CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default target/browser-test:
# screenshots and the DICOMweb request log; kept after the run), BROWSER_TEST_SLICES (CT slices,
# default 8).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

. scripts/lib/browser.sh
browser_prepare browser-test.sh

artifacts=${ARTIFACTS:-$root/target/browser-test}
rm -rf "$artifacts"
mkdir -p "$artifacts"
server_init browser
server_at_exit 'cp "$(server_log server)" "$artifacts/" 2>/dev/null'
"$venv/bin/python" tests/browser/make_study.py .data "$SERVER_WORK/study" "${BROWSER_TEST_SLICES:-8}" >/dev/null

server_start server -XX:TieredStopAtLevel=1 -- \
  --example.data-dir="$SERVER_WORK/data" --example.viewer-dir="$root/.viewer/ohif"
server_wait server
base=$(server_url server)
# The viewer is announced once the application is ready, which can come a moment after /metadata
# first answers (the web server starts before the start-up listeners finish): wait for the line.
server_wait_log server "OHIF viewer: " 60

echo "== OHIF in headless Chromium against $base (artifacts: $artifacts)"
DICOMFHIR_SERVER="$base" STUDY_MANIFEST="$SERVER_WORK/study/manifest.json" ARTIFACTS="$artifacts" CHROMIUM="$chromium" \
  node tests/browser/ohif-viewer.test.mjs \
  || { server_log_tail server; exit 1; }
