#!/usr/bin/env bash
# Crash test: the server (jar from $DICOMFHIR_JAR, else the built one: scripts/lib/server.sh)
# on a throwaway data dir, 8 concurrent uploaders, SIGKILL of the java process while uploads are in
# flight, restart on the same data dir (round 1: same node id crash-a; round 2: node id crash-b),
# then every acknowledged upload must be listed exactly once in its ImagingStudy with its bytes
# intact, no study may list a missing Binary, and `dicom-fhir verify` must exit 0.
# The driver is tests/adversarial/crash_driver.py. Exit status 0 = passed.
#
#   scripts/crash-test.sh
#   DICOMFHIR_JAR=/tmp/baseline.jar JAVA_OPTS=-Xmx1g scripts/crash-test.sh
#   CRASH_MIN_ACKED=400 scripts/crash-test.sh
#   CRASH_SERVER_ARGS='--spring.datasource.url=jdbc:h2:file:${example.data-dir}/h2/fhir;WRITE_DELAY=0' scripts/crash-test.sh
#     (extra server arguments, space-separated, passed at every start)
set -euo pipefail
. "$(dirname "$0")/lib/venv.sh"
venv_prepare

cli=${DICOMFHIR_CLI:-$root/target/release/dicom-fhir}
# The verify audit is part of the test: without the CLI the test fails, it is not skipped.
[ -x "$cli" ] || { echo "crash-test.sh: no CLI binary at $cli (cargo build --release --locked -p dicom-fhir-cli)"; exit 1; }

# The driver starts, SIGKILLs and restarts the server itself (tests/server_harness.py); this
# script gives it the private jar copy, the throwaway directory and a port (scripts/lib/server.sh).
SERVER_KEEP_WORK=${KEEP_CRASH_DIR:-${SERVER_KEEP_WORK:-}}
. scripts/lib/server.sh
server_init crash
port=$(server_free_port)
echo "crash-test.sh: $SERVER_SOURCE_JAR, data dir $SERVER_WORK/data, port $port"

extra=()
for a in ${CRASH_SERVER_ARGS:-}; do extra+=("--server-arg=$a"); done
DICOMFHIR_DATA="$root/.data" "$venv/bin/python" tests/adversarial/crash_driver.py "${extra[@]}" \
  --jar "$SERVER_JAR" --data-dir "$SERVER_WORK/data" --log-dir "$SERVER_WORK" --port "$port" \
  --cli "$cli" --min-acked "${CRASH_MIN_ACKED:-250}"
