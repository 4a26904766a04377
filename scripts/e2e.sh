#!/usr/bin/env bash
# Starts the built example server on a free loopback port with a throwaway database and binary
# store, runs the Python end-to-end tests against it, and stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt

jar=$(ls examples/target/dicom-fhir-example-server-*.jar | grep -v original | head -n1)
work=$(mktemp -d)
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
java -jar "$jar" --server.address=127.0.0.1 --server.port="$port" --example.data-dir="$work" \
  >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  local rc=$?
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"   # the test result, not the stopped server's status
}
trap cleanup EXIT

base="http://127.0.0.1:$port/fhir"
for _ in $(seq 1 180); do
  if curl -fsS "$base/metadata" >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then echo "server died:"; tail -n 80 "$work/server.log"; exit 1; fi
  sleep 1
done
curl -fsS "$base/metadata" >/dev/null || { echo "server did not start:"; tail -n 80 "$work/server.log"; exit 1; }

DICOMFHIR_BASE_URL="$base" DICOMFHIR_DATA="$root/.data" "$venv/bin/python" -m pytest -q tests/e2e \
  || { echo "--- server log (tail) ---"; tail -n 60 "$work/server.log"; exit 1; }
