#!/usr/bin/env bash
# Two-node consistency test: one private PostgreSQL (scripts/postgres.sh), TWO example servers
# with the plugin sharing that database and one binary store directory, then
# tests/cluster/test_two_nodes.py uploads instances of the same studies to both nodes at once and
# checks every ImagingStudy. Everything runs on 127.0.0.1 and is stopped afterwards.
# Exit status = pytest's.
#
#   scripts/cluster-test.sh                # needs the built jar (mvn -B -DskipTests install)
#   DICOMFHIR_JAR=other.jar scripts/cluster-test.sh -k patients   # extra arguments go to pytest
#   CLUSTER_JAVA_OPTS="..." scripts/cluster-test.sh
#
# Costs about 2-3 minutes on a 2-core machine (two server start-ups dominate).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

for tool in java python3 curl; do
  command -v "$tool" >/dev/null || { echo "cluster-test.sh: missing $tool"; exit 1; }
done
jar=${DICOMFHIR_JAR:-$(ls examples/target/dicom-fhir-example-server-*.jar 2>/dev/null | grep -v original | head -n1 || true)}
[ -n "$jar" ] && [ -f "$jar" ] || { echo "cluster-test.sh: no server jar (set DICOMFHIR_JAR or run mvn -B -DskipTests install)"; exit 1; }
[ -f "$root/.data/pydicom/CT_small.dcm" ] || ./scripts/fetch-test-data.sh

venv="$root/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
py="$venv/bin/python"

# Throwaway directory reachable by the postgres system user (the cluster runs as it when we are root).
work=$(mktemp -d /tmp/dicomfhir-cluster.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/shared"
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port=$(free_port)
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/scripts/postgres.sh" stop --dir "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# A private copy of the jar: a concurrent rebuild of examples/target must not pull it from under
# the running JVMs.
cp "$jar" "$work/server.jar"
jar="$work/server.jar"

t0=$(date +%s)
pg_url=$("$root/scripts/postgres.sh" start --dir "$work/pg" --port "$pg_port" --db hapi --user hapi --password hapi 2>"$work/postgres-start.log") \
  || { cat "$work/postgres-start.log"; exit 1; }

java_opts=${CLUSTER_JAVA_OPTS:--Xmx1g -XX:TieredStopAtLevel=1 -XX:+UseParallelGC}
start_node() { # name port
  # shellcheck disable=SC2086
  java $java_opts -jar "$jar" --server.address=127.0.0.1 --server.port="$2" \
    --example.data-dir="$work/shared" \
    --spring.profiles.active=postgres \
    --spring.datasource.url="$pg_url" --spring.datasource.username=hapi --spring.datasource.password=hapi \
    --dicomfhir.node-id="$1" >"$work/$1.log" 2>&1 &
  pids+=($!)
}
wait_node() { # name port pid
  local base="http://127.0.0.1:$2/fhir"
  for _ in $(seq 1 240); do
    curl -fsS "$base/metadata" >/dev/null 2>&1 && return 0
    kill -0 "$3" 2>/dev/null || { echo "$1 died:"; tail -n 60 "$work/$1.log"; return 1; }
    sleep 1
  done
  echo "$1 did not start:"; tail -n 60 "$work/$1.log"; return 1
}

wait_schema() { # name pid: HAPI has created/updated its tables once JPA is initialized
  for _ in $(seq 1 480); do
    grep -q "Initialized JPA EntityManagerFactory" "$work/$1.log" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "$1 died:"; tail -n 60 "$work/$1.log"; return 1; }
    sleep 0.5
  done
  echo "$1: no JPA start-up in 240s"; return 1
}

port_a=$(free_port); port_b=$(free_port)
# On an empty database the first node creates HAPI's tables (hbm2ddl); two nodes doing that at once
# race. So node B starts once node A has its schema, and the rest of the start-ups overlap.
start_node node-a "$port_a"; wait_schema node-a "${pids[0]}"
start_node node-b "$port_b"
wait_node node-a "$port_a" "${pids[0]}"; wait_node node-b "$port_b" "${pids[1]}"
echo "cluster-test.sh: PostgreSQL $pg_url, node-a :$port_a, node-b :$port_b, shared data dir $work/shared (up in $(( $(date +%s) - t0 ))s)"

rc=0
DICOMFHIR_NODE_A="http://127.0.0.1:$port_a/fhir" DICOMFHIR_NODE_B="http://127.0.0.1:$port_b/fhir" \
  DICOMFHIR_DATA="$root/.data" "$py" -m pytest -q -rA -p no:cacheprovider --durations=3 tests/cluster "$@" || rc=$?
if [ "$rc" != 0 ]; then
  for n in node-a node-b; do echo "--- $n log (tail) ---"; tail -n 40 "$work/$n.log"; done
fi
echo "cluster-test.sh: done in $(( $(date +%s) - t0 ))s"
exit "$rc"
