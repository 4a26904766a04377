#!/usr/bin/env bash
# Memory test: the server (scripts/lib/server.sh: jar from $DICOMFHIR_JAR, else the built jar)
# with JAVA_OPTS (default -Xmx1g) and the default limits, on a throwaway data dir; then
# tests/adversarial/memory_driver.py streams a 3 GiB POST /fhir/Binary (Content-Length, then
# chunked: refused, 413) and a STOW-RS of 2 x 1.5 GiB of valid DICOM (Content-Length, then the same
# chunked: stored, 200, spooled to disk and never in the heap), polling /fhir/metadata meanwhile;
# then deletes the study and expunges its Binaries. Passes when the FHIR upload gets a 4xx and the
# STOW-RS a 200 listing both instances, /metadata keeps answering, the JVM survives and its log has
# no OutOfMemoryError. The client streams from generators (nothing held in memory, nothing written
# to disk). Disk: the server needs about 2 x 3 GiB free while the STOW runs (spooled parts in
# java.io.tmpdir, their copies in the binary store under the throwaway data dir).
set -euo pipefail
. "$(dirname "$0")/lib/venv.sh"
venv_prepare

java_opts=${JAVA_OPTS:--Xmx1g}

. scripts/lib/server.sh
server_init memory
# shellcheck disable=SC2086
server_start server $java_opts -- --example.data-dir="$SERVER_WORK/data"
server_wait server
base="$(server_url server)/fhir"
echo "memory-test.sh: $SERVER_SOURCE_JAR ($java_opts) on $base"

rc=0
DICOMFHIR_DATA="$root/.data" "$venv/bin/python" tests/adversarial/memory_driver.py \
  --base "$base" --pid "$(server_pid server)" --log "$(server_log server)" || rc=$?
echo "memory-test.sh: data dir size after the test: $(du -sh "$SERVER_WORK/data" 2>/dev/null | cut -f1)"
if [ "$rc" != 0 ]; then
  echo "--- server log (errors) ---"
  grep -n -E "OutOfMemoryError|ERROR|Exception" "$(server_log server)" | head -n 30 || true
  server_log_tail server 12 | cut -c1-300
fi
exit "$rc"
