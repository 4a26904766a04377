#!/usr/bin/env bash
# Memory test: the server (jar from $DICOMFHIR_JAR, else examples/target/dicom-fhir-example-server-*.jar)
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
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

venv="$root/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
[ -f "$root/.data/pydicom/CT_small.dcm" ] || ./scripts/fetch-test-data.sh

jar=${DICOMFHIR_JAR:-$(ls examples/target/dicom-fhir-example-server-*.jar 2>/dev/null | grep -v original | head -n1 || true)}
[ -n "$jar" ] && [ -f "$jar" ] || { echo "memory-test.sh: no server jar (set DICOMFHIR_JAR or run mvn -B -DskipTests install)"; exit 1; }
java_opts=${JAVA_OPTS:--Xmx1g}

work=$(mktemp -d /tmp/dicomfhir-memory.XXXXXX)
cp "$jar" "$work/server.jar"
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
java $java_opts -jar "$work/server.jar" --server.address=127.0.0.1 --server.port="$port" \
  --example.data-dir="$work/data" >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  local rc=$?
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

base="http://127.0.0.1:$port/fhir"
for _ in $(seq 1 300); do
  if curl -fsS "$base/metadata" >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then echo "server died:"; tail -n 80 "$work/server.log"; exit 1; fi
  sleep 1
done
curl -fsS "$base/metadata" >/dev/null || { echo "server did not start:"; tail -n 80 "$work/server.log"; exit 1; }
echo "memory-test.sh: $jar ($java_opts) on $base"

rc=0
DICOMFHIR_DATA="$root/.data" "$venv/bin/python" tests/adversarial/memory_driver.py \
  --base "$base" --pid "$server" --log "$work/server.log" || rc=$?
echo "memory-test.sh: data dir size after the test: $(du -sh "$work/data" 2>/dev/null | cut -f1)"
if [ "$rc" != 0 ]; then
  echo "--- server log (errors) ---"
  grep -n -E "OutOfMemoryError|ERROR|Exception" "$work/server.log" | head -n 30 || true
  echo "--- server log (tail) ---"; tail -n 12 "$work/server.log" | cut -c1-300
fi
exit "$rc"
