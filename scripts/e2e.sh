#!/usr/bin/env bash
# Starts the example server (scripts/lib/server.sh: $DICOMFHIR_JAR, else the built jar) on a free
# loopback port with a throwaway database and binary store, runs the Python end-to-end tests
# against it, and stops it.
set -euo pipefail
. "$(dirname "$0")/lib/venv.sh"
venv_prepare
venv_integrator_tools

. scripts/lib/server.sh
server_init e2e
server_start server -- --example.data-dir="$SERVER_WORK/data"
server_wait server
base="$(server_url server)/fhir"

export DICOMFHIR_BASE_URL="$base" DICOMFHIR_DATA="$root/.data" DICOMFHIR_BINSTORE="$SERVER_WORK/data/binstore" \
  DICOMFHIR_CLI="$root/target/release/dicom-fhir"
"$venv/bin/python" -m pytest -q tests/e2e \
  || { server_log_tail server; exit 1; }
# Runs after tests/e2e on purpose: its whole-store audit also checks what those tests stored.
"$venv/bin/python" -m pytest -q tests/python \
  || { server_log_tail server; exit 1; }
