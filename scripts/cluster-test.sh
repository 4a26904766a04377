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
# Server start and stop: scripts/lib/server.sh (the jar is $DICOMFHIR_JAR, else the built one).
# Costs about 2-3 minutes on a 2-core machine (two server start-ups dominate).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

for tool in java python3 curl; do
  command -v "$tool" >/dev/null || { echo "cluster-test.sh: missing $tool"; exit 1; }
done
. scripts/lib/venv.sh
venv_prepare
py="$venv/bin/python"

. scripts/lib/server.sh
server_init cluster
# The throwaway directory must be reachable by the postgres system user (the cluster runs as it
# when we are root).
chmod 755 "$SERVER_WORK"
mkdir -p "$SERVER_WORK/shared"
server_at_exit '"$root/scripts/postgres.sh" stop --dir "$SERVER_WORK/pg" >/dev/null 2>&1'

t0=$(date +%s)
pg_url=$("$root/scripts/postgres.sh" start --dir "$SERVER_WORK/pg" --port "$(server_free_port)" \
  --db hapi --user hapi --password hapi 2>"$SERVER_WORK/postgres-start.log") \
  || { cat "$SERVER_WORK/postgres-start.log"; exit 1; }

java_opts=${CLUSTER_JAVA_OPTS:--Xmx1g -XX:TieredStopAtLevel=1 -XX:+UseParallelGC}
start_node() { # name
  # shellcheck disable=SC2086
  server_start "$1" $java_opts -- \
    --example.data-dir="$SERVER_WORK/shared" \
    --spring.profiles.active=postgres \
    --spring.datasource.url="$pg_url" --spring.datasource.username=hapi --spring.datasource.password=hapi \
    --dicomfhir.node-id="$1"
}

# On an empty database the first node creates HAPI's tables (hbm2ddl); two nodes doing that at once
# race. So node B starts once node A has its schema (HAPI has created/updated its tables once JPA
# is initialized), and the rest of the start-ups overlap.
start_node node-a
server_wait_log node-a "Initialized JPA EntityManagerFactory" 240
start_node node-b
server_wait node-a 240; server_wait node-b 240
port_a=$(server_port node-a); port_b=$(server_port node-b)
echo "cluster-test.sh: PostgreSQL $pg_url, node-a :$port_a, node-b :$port_b, shared data dir $SERVER_WORK/shared (up in $(( $(date +%s) - t0 ))s)"

rc=0
DICOMFHIR_NODE_A="http://127.0.0.1:$port_a/fhir" DICOMFHIR_NODE_B="http://127.0.0.1:$port_b/fhir" \
  DICOMFHIR_DATA="$root/.data" "$py" -m pytest -q -rA -p no:cacheprovider --durations=3 tests/cluster "$@" || rc=$?
if [ "$rc" != 0 ]; then
  for n in node-a node-b; do server_log_tail "$n" 40; done
fi
echo "cluster-test.sh: done in $(( $(date +%s) - t0 ))s"
exit "$rc"
