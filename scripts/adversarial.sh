#!/usr/bin/env bash
# Adversarial tests: starts the example server (jar from $DICOMFHIR_JAR, else the built
# examples/target/dicom-fhir-example-server-*.jar) on a free loopback port with a throwaway
# database and binary store and --dicomfhir.max-upload-bytes=1048576, runs tests/adversarial
# against it, and stops it. Extra arguments go to pytest (e.g. -k patient, -rA).
# Exit status = pytest's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
[ -f "$root/.data/pydicom/CT_small.dcm" ] || ./scripts/fetch-test-data.sh

jar=${DICOMFHIR_JAR:-$(ls examples/target/dicom-fhir-example-server-*.jar 2>/dev/null | grep -v original | head -n1 || true)}
[ -n "$jar" ] && [ -f "$jar" ] || { echo "adversarial.sh: no server jar (set DICOMFHIR_JAR or run mvn -B -DskipTests install)"; exit 1; }
max_upload=1048576

work=$(mktemp -d /tmp/dicomfhir-adversarial.XXXXXX)
# A private copy of the jar: a concurrent rebuild must not pull it from under the running JVM.
cp "$jar" "$work/server.jar"
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
java ${JAVA_OPTS:-} -jar "$work/server.jar" --server.address=127.0.0.1 --server.port="$port" \
  --example.data-dir="$work/data" --dicomfhir.max-upload-bytes="$max_upload" \
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
echo "adversarial.sh: $jar on $base (max-upload-bytes $max_upload)"

export DICOMFHIR_BASE_URL="$base" DICOMFHIR_DATA="$root/.data" DICOMFHIR_MAX_UPLOAD_BYTES="$max_upload"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/adversarial "$@" \
  || { echo "--- server log (tail) ---"; tail -n 80 "$work/server.log"; exit 1; }
