# The example server for the test scripts, in one place (source it; the Python twin is
# tests/server_harness.py): which jar, a private copy of it, a free loopback port, start with the
# script's own JVM options and server arguments, wait until ready with a deadline (a clear failure
# with the log's tail), stop everything and remove the throwaway directory on exit.
#
#   . "$root/scripts/lib/server.sh"
#   server_init adversarial            # $SERVER_WORK = /tmp/dicomfhir-adversarial.XXXXXX,
#                                      # $SERVER_JAR = a private copy of the jar in it, EXIT trap
#   server_start server -Xmx1g -- --example.data-dir="$SERVER_WORK/data"
#                                      # NAME [JVM option...] -- [server argument...]: starts it on
#                                      # 127.0.0.1 and a free port, log in $SERVER_WORK/NAME.log
#   server_wait server                 # until /fhir/metadata answers (exits 1 if it dies or the
#                                      # deadline passes: $SERVER_START_SECONDS, default 300)
#   base="$(server_url server)/fhir"   # also server_pid, server_port, server_log NAME
#   server_at_exit 'some command'      # more clean-up, run after the servers are stopped
#
# On exit the servers get SIGTERM (SIGKILL after 60 s), the hooks run, $SERVER_WORK is removed
# (kept when the script failed and SERVER_KEEP_WORK is set) and the script's own status is kept.
#
# Jar: $DICOMFHIR_JAR, else the newest examples/target/dicom-fhir-example-server-*.jar.
# The copy matters: a concurrent rebuild of examples/target must not pull it from under the JVMs.

_server_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_server_me=${0##*/}
declare -gA _server_pids=() _server_ports=()
_server_hooks=()

server_die() {
  echo "$_server_me: $*" >&2
  exit 1
}

# Prints the jar to run; fails (status 1, no output) when there is none.
server_find_jar() {
  local jar=${DICOMFHIR_JAR:-}
  if [ -z "$jar" ]; then
    jar=$(ls -t "$_server_root"/examples/target/dicom-fhir-example-server-*.jar 2>/dev/null \
      | grep -v original | head -n1 || true)
  fi
  [ -n "$jar" ] && [ -f "$jar" ] && echo "$jar"
}

server_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

server_init() { # PREFIX
  local jar
  jar=$(server_find_jar) \
    || server_die "no server jar${DICOMFHIR_JAR:+ at $DICOMFHIR_JAR} (set DICOMFHIR_JAR or run mvn -B -DskipTests install)"
  SERVER_SOURCE_JAR=$jar
  SERVER_WORK=$(mktemp -d "/tmp/dicomfhir-$1.XXXXXX")
  trap _server_exit EXIT
  cp "$jar" "$SERVER_WORK/server.jar"
  SERVER_JAR="$SERVER_WORK/server.jar"
}

server_start() { # NAME [JVM option...] -- [server argument...]
  local name=$1 port jvm=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do jvm+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  port=$(server_free_port)
  java "${jvm[@]}" -jar "$SERVER_JAR" --server.address=127.0.0.1 --server.port="$port" "$@" \
    >"$SERVER_WORK/$name.log" 2>&1 &
  server_adopt "$name" $! "$port"
}

server_adopt() { # NAME PID PORT: a server started otherwise (e.g. by scripts/serve.sh) is waited for and stopped like ours
  _server_pids[$1]=$2
  _server_ports[$1]=$3
}

server_pid() { echo "${_server_pids[$1]}"; }
server_port() { echo "${_server_ports[$1]}"; }
server_url() { echo "http://127.0.0.1:${_server_ports[$1]}"; }
server_log() { echo "$SERVER_WORK/$1.log"; }

server_log_tail() { # NAME [LINES]
  echo "--- $1 log (tail) ---"
  tail -n "${2:-60}" "$(server_log "$1")" 2>/dev/null || true
}

# Polls until CHECK (a command) succeeds; exits 1 with the log's tail when the server dies first or
# the deadline passes.
_server_poll() { # NAME SECONDS WHAT CHECK...
  local name=$1 seconds=$2 what=$3 deadline
  shift 3
  deadline=$((SECONDS + seconds))
  until "$@"; do
    if ! kill -0 "${_server_pids[$name]}" 2>/dev/null; then
      echo "$_server_me: $name died before $what:"
      server_log_tail "$name" 80
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$_server_me: $name: no $what in ${seconds}s:"
      server_log_tail "$name" 80
      exit 1
    fi
    sleep 0.5
  done
}

_server_ready() { curl -fsS --max-time 5 "$(server_url "$1")/fhir/metadata" >/dev/null 2>&1; }
_server_logged() { grep -q -- "$2" "$(server_log "$1")" 2>/dev/null; }

server_wait() { # NAME [SECONDS]: until /fhir/metadata answers
  _server_poll "$1" "${2:-${SERVER_START_SECONDS:-300}}" "answer from /fhir/metadata" _server_ready "$1"
}

server_wait_log() { # NAME PATTERN [SECONDS]: until the log has a line matching PATTERN (grep)
  _server_poll "$1" "${3:-${SERVER_START_SECONDS:-300}}" "log line '$2'" _server_logged "$1" "$2"
}

server_stop() { # [NAME...] (default: all): SIGTERM, then SIGKILL after 60 s
  local name pid deadline
  [ $# -gt 0 ] || set -- "${!_server_pids[@]}"
  for name in "$@"; do kill "${_server_pids[$name]}" 2>/dev/null || true; done
  deadline=$((SECONDS + 60))
  for name in "$@"; do
    pid=${_server_pids[$name]}
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "_server_pids[$name]"
  done
}

server_at_exit() { _server_hooks+=("$1"); }

_server_exit() {
  local rc=$? hook
  trap - EXIT
  server_stop
  for hook in "${_server_hooks[@]}"; do eval "$hook" || true; done
  if [ "$rc" != 0 ] && [ -n "${SERVER_KEEP_WORK:-}" ]; then
    echo "$_server_me: kept $SERVER_WORK"
  else
    rm -rf "$SERVER_WORK"
  fi
  exit "$rc" # the tests' status, not the stopped servers'
}
