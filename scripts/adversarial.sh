#!/usr/bin/env bash
# Adversarial tests: starts the example server (scripts/lib/server.sh: jar from $DICOMFHIR_JAR,
# else the built examples/target/dicom-fhir-example-server-*.jar) on a free loopback port with a throwaway
# database and binary store and --dicomfhir.max-upload-bytes=1048576, runs tests/adversarial
# against it, and stops it. Extra arguments go to pytest (e.g. -k patient, -rA).
# Exit status = pytest's.
set -euo pipefail
. "$(dirname "$0")/lib/venv.sh"
venv_prepare

max_upload=1048576

. scripts/lib/server.sh
server_init adversarial
# shellcheck disable=SC2086
server_start server ${JAVA_OPTS:-} -- \
  --example.data-dir="$SERVER_WORK/data" --dicomfhir.max-upload-bytes="$max_upload"
server_wait server
base="$(server_url server)/fhir"
echo "adversarial.sh: $SERVER_SOURCE_JAR on $base (max-upload-bytes $max_upload)"

export DICOMFHIR_BASE_URL="$base" DICOMFHIR_DATA="$root/.data" DICOMFHIR_MAX_UPLOAD_BYTES="$max_upload"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/adversarial "$@" \
  || { server_log_tail server 80; exit 1; }
