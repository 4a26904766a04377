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

# The integrator tools under test: the CLI binary and the Python module, built from this tree
# (sharing the workspace's target directory, so nothing is compiled twice).
cargo build --release --locked -p dicom-fhir-cli
CARGO_TARGET_DIR="$root/target" "$venv/bin/pip" install --quiet --disable-pip-version-check ./rust/python

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
for _ in $(seq 1 300); do
  if curl -fsS "$base/metadata" >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then echo "server died:"; tail -n 80 "$work/server.log"; exit 1; fi
  sleep 1
done
curl -fsS "$base/metadata" >/dev/null || { echo "server did not start:"; tail -n 80 "$work/server.log"; exit 1; }

export DICOMFHIR_BASE_URL="$base" DICOMFHIR_DATA="$root/.data" DICOMFHIR_BINSTORE="$work/binstore" \
  DICOMFHIR_CLI="$root/target/release/dicom-fhir"
"$venv/bin/python" -m pytest -q tests/e2e \
  || { echo "--- server log (tail) ---"; tail -n 60 "$work/server.log"; exit 1; }
# Runs after tests/e2e on purpose: its whole-store audit also checks what those tests stored.
"$venv/bin/python" -m pytest -q tests/python \
  || { echo "--- server log (tail) ---"; tail -n 60 "$work/server.log"; exit 1; }
