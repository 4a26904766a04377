#!/usr/bin/env bash
# README's server command works: scripts/serve.sh (with the jar test.sh built: SERVE_BUILD=never)
# starts the server, which answers FHIR and DICOMweb, with the class data sharing archive it made
# on its first start mapped into the JVM; the second start reuses the archive.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/server.sh
server_init serve

start_served() { # NAME: scripts/serve.sh on a free port, its store in $SERVER_WORK/data
  local port
  port=$(server_free_port)
  SERVE_BUILD=never EXAMPLE_DATA_DIR="$SERVER_WORK/data" SERVER_PORT=$port \
    scripts/serve.sh --server.address=127.0.0.1 >"$(server_log "$1")" 2>&1 &
  server_adopt "$1" $! "$port" # serve.sh execs java: this is the server's pid
}

check_running() { # NAME
  local base pid
  base="$(server_url "$1")/fhir"
  pid=$(server_pid "$1")
  curl -fsS -o "$SERVER_WORK/metadata.json" "$base/metadata"
  grep -q '"CapabilityStatement"' "$SERVER_WORK/metadata.json" || server_die "$1: no CapabilityStatement"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/dicom+json' "$base/dicomweb/studies")
  case "$code" in 200|204) ;; *) server_die "$1: QIDO answered $code" ;; esac
  grep -q 'server\.jsa' "/proc/$pid/maps" || { server_log_tail "$1"; server_die "$1: the class data sharing archive is not mapped"; }
  echo "serve-test: $1 answers FHIR and DICOMweb, with the class data sharing archive mapped"
}

# the archive is build output (examples/target/server): make it again, so that path is tested too
rm -f examples/target/server/server.jsa
start_served first
server_wait first 900
grep -q 'class data sharing archive ready' "$(server_log first)" || { server_log_tail first; server_die "first start made no archive"; }
check_running first
server_stop first

start_served second
server_wait second
if grep -q 'preparing the class data sharing archive' "$(server_log second)"; then
  server_die "the second start made the archive again"
fi
check_running second
echo "serve-test: ok"
