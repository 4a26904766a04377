#!/usr/bin/env bash
# Browser test of the OHIF viewer the example server serves (tests/browser/ohif-viewer.test.mjs):
# Debian's Chromium, headless, driven by playwright-core. From a fresh machine: installs Chromium
# (apt, when missing) and the test's npm packages (npm ci, pinned), fetches OHIF, builds the server
# JAR when it is missing, starts it on a free loopback port with a throwaway database, uploads a
# small CT series, opens it in OHIF, and stops the server.
#
#   scripts/browser-test.sh
#
# Environment: CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default target/browser-test:
# screenshots and the DICOMweb request log; kept after the run), BROWSER_TEST_SLICES (CT slices,
# default 8).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "== installing Debian's chromium (apt-get)"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
for tool in node npm python3 java; do
  command -v "$tool" >/dev/null || { echo "browser-test.sh: missing $tool (see README)"; exit 1; }
done

echo "== npm ci (tests/browser: playwright-core, no browser download)"
(cd tests/browser && npm ci --silent --no-audit --no-fund)

echo "== OHIF viewer"
./scripts/fetch-viewer.sh

jar=$(ls examples/target/dicom-fhir-example-server-*.jar 2>/dev/null | grep -v original | head -n1 || true)
if [ -z "$jar" ]; then
  echo "== building the server JAR (mvn package -DskipTests)"
  mvn -B -ntp -q package -DskipTests
  jar=$(ls examples/target/dicom-fhir-example-server-*.jar | grep -v original | head -n1)
fi

# pydicom (and numpy) for the test study: the same virtualenv and pins as scripts/e2e.sh.
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt

[ -f .data/pydicom/CT_small.dcm ] && [ -f .data/pydicom-data/emri_small_jpeg_2k_lossless.dcm ] || ./scripts/fetch-test-data.sh

artifacts=${ARTIFACTS:-$root/target/browser-test}
rm -rf "$artifacts"
mkdir -p "$artifacts"
work=$(mktemp -d)
"$venv/bin/python" tests/browser/make_study.py .data "$work/study" "${BROWSER_TEST_SLICES:-8}" >/dev/null

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
java -XX:TieredStopAtLevel=1 -jar "$jar" --server.address=127.0.0.1 --server.port="$port" \
  --example.data-dir="$work/data" --example.viewer-dir="$root/.viewer/ohif" \
  >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  local rc=$?
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  cp "$work/server.log" "$artifacts/" 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  if curl -fsS "$base/fhir/metadata" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then echo "server died:"; tail -n 80 "$work/server.log"; exit 1; fi
  sleep 1
done
curl -fsS "$base/fhir/metadata" >/dev/null || { echo "server did not start:"; tail -n 80 "$work/server.log"; exit 1; }
# The viewer is announced once the application is ready, which can come a moment after /metadata
# first answers (the web server starts before the start-up listeners finish): wait for the line.
for _ in $(seq 1 300); do
  if grep -q "OHIF viewer: " "$work/server.log"; then break; fi
  sleep 0.2
done
grep -q "OHIF viewer: " "$work/server.log" || { echo "the server serves no viewer:"; grep -i viewer "$work/server.log"; exit 1; }

echo "== OHIF in headless Chromium against $base (artifacts: $artifacts)"
DICOMFHIR_SERVER="$base" STUDY_MANIFEST="$work/study/manifest.json" ARTIFACTS="$artifacts" CHROMIUM="$chromium" \
  node tests/browser/ohif-viewer.test.mjs \
  || { echo "--- server log (tail) ---"; tail -n 60 "$work/server.log"; exit 1; }
