#!/usr/bin/env bash
# Browser tests of the OHIF viewer against the example server: Debian's Chromium, headless, driven
# by playwright-core. From a fresh machine: installs Chromium (apt, when missing) and the test's
# npm packages (npm ci, pinned), fetches OHIF, builds the server JAR and the CLI when they are
# missing, starts the server on a free loopback port with a throwaway database and its default
# settings (CORS on), then
#   1. tests/browser/ohif-viewer.test.mjs: uploads a small CT series and a JPEG 2000 study, opens
#      them in the OHIF the server serves;
#   2. stores the whole pydicom + pydicom-data corpus with `dicom-fhir upload` (some files are
#      refused by design: conflicts, invalid files; the report says which), and
#      tests/browser/ohif-corpus.test.mjs: the study list lists every study, every study with
#      images opens (each image series OHIF can show gets its frames);
#   3. tests/browser/ohif-cross-origin.test.mjs: OHIF served from another origin (a static file
#      server on another loopback port) lists the studies and opens one;
# and stops the server (scripts/lib/server.sh: the jar is $DICOMFHIR_JAR, else the built one).
#
#   scripts/browser-test.sh
#
# Environment: CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default target/browser-test:
# screenshots, the DICOMweb request logs, the upload report; kept after the run),
# BROWSER_TEST_SLICES (CT slices, default 8), DICOMFHIR_CLI (default target/release/dicom-fhir,
# built when missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

. scripts/lib/browser.sh
browser_prepare browser-test.sh cargo
cli=${DICOMFHIR_CLI:-$root/target/release/dicom-fhir}
[ -x "$cli" ] || cargo build --release --locked -p dicom-fhir-cli

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

echo "== the whole pydicom + pydicom-data corpus (dicom-fhir upload; conflicts and invalid files are refused)"
# The CLI exits 1 when some files were refused, which this corpus is made to cause; the corpus
# test reads the report and fails on any other kind of refusal.
"$cli" upload --server "$base/fhir" --quiet --jobs 2 --report "$artifacts/corpus-upload.json" \
  .data/pydicom .data/pydicom-charset .data/pydicom-data >"$artifacts/corpus-upload.log" 2>&1 || true
[ -s "$artifacts/corpus-upload.json" ] || { echo "browser-test.sh: dicom-fhir upload wrote no report"; tail -n 20 "$artifacts/corpus-upload.log"; exit 1; }

echo "== OHIF on the whole corpus: study list, every study with images"
DICOMFHIR_SERVER="$base" UPLOAD_REPORT="$artifacts/corpus-upload.json" ARTIFACTS="$artifacts" CHROMIUM="$chromium" \
  node tests/browser/ohif-corpus.test.mjs \
  || { server_log_tail server; exit 1; }

echo "== OHIF on another origin (static file server on another loopback port) against the default server"
DICOMFHIR_SERVER="$base" VIEWER_DIR="$root/.viewer/ohif" STUDY_MANIFEST="$SERVER_WORK/study/manifest.json" \
  ARTIFACTS="$artifacts" CHROMIUM="$chromium" \
  node tests/browser/ohif-cross-origin.test.mjs \
  || { server_log_tail server; exit 1; }
