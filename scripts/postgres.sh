#!/usr/bin/env bash
# A private PostgreSQL cluster for the example server, the two-node test and the benchmark:
# listens on 127.0.0.1 only, on the port you give, with its data (and its Unix socket) in the
# directory you give. Nothing system-wide is configured; the only system change is installing
# the Debian package when it is missing (root only).
#
#   scripts/postgres.sh start [--dir DIR] [--port PORT] [--db NAME] [--user NAME] [--password PW]
#   scripts/postgres.sh stop  [--dir DIR]
#   scripts/postgres.sh status [--dir DIR]
#   scripts/postgres.sh url   [--dir DIR]        # prints the JDBC URL of a started cluster
#
# Defaults: --dir ./target/postgres (of the repository), --port 55432, --db hapi, --user hapi,
# --password hapi. `start` prints the JDBC URL on stdout (last line) and the server properties to
# use on stderr, e.g.
#
#   url=$(scripts/postgres.sh start --dir /tmp/pg --port 55432)
#   java -jar examples/target/dicom-fhir-example-server-*.jar --spring.profiles.active=postgres \
#        --spring.datasource.url="$url" --spring.datasource.username=hapi --spring.datasource.password=hapi
#
# Idempotent: `start` on a running cluster only makes sure the role and database exist and prints
# the URL; `stop` on a stopped (or absent) cluster does nothing.
#
# Root: the cluster runs as the `postgres` system user (PostgreSQL refuses to run as root), so DIR
# and its parents must be reachable by that user; DIR itself is created and handed to it.
# Non-root: the cluster runs as you; PostgreSQL must already be installed (ask an administrator
# for `apt-get install -y postgresql`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "postgres.sh: $*" >&2; exit 1; }
say() { echo "postgres.sh: $*" >&2; }

cmd=${1:-}
[ -n "$cmd" ] || die "usage: postgres.sh start|stop|status|url [--dir DIR] [--port PORT] [--db NAME] [--user NAME] [--password PW]"
shift
dir="$root/target/postgres"
port=55432
db=hapi
user=hapi
password=hapi
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    --port) port=$2; shift 2 ;;
    --port=*) port=${1#*=}; shift ;;
    --db) db=$2; shift 2 ;;
    --db=*) db=${1#*=}; shift ;;
    --user) user=$2; shift 2 ;;
    --user=*) user=${1#*=}; shift ;;
    --password) password=$2; shift 2 ;;
    --password=*) password=${1#*=}; shift ;;
    *) die "unknown argument: $1" ;;
  esac
done
case "$port" in ''|*[!0-9]*) die "--port must be a number (got '$port')" ;; esac
case "$db$user" in *[!A-Za-z0-9_]*) die "--db and --user: letters, digits and _ only" ;; esac
mkdir -p "$(dirname "$dir")"
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")
data="$dir/data"
log="$dir/postgres.log"

# ---------------------------------------------------------------- binaries
find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null || true)
    [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  fi
  return 1
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
  [ "$cmd" = start ] || { [ "$cmd" = stop ] && exit 0; die "PostgreSQL is not installed"; }
  if [ "$(id -u)" != 0 ]; then
    die "PostgreSQL is not installed and you are not root. Ask an administrator to run
    apt-get update && apt-get install -y postgresql
(or put a PostgreSQL installation's bin/ directory, with initdb and pg_ctl, first on PATH via pg_config)."
  fi
  say "installing PostgreSQL from the Debian packages (apt-get install -y postgresql) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql >&2; } \
    || die "apt-get install postgresql failed"
  bindir=$(find_bindir) || die "PostgreSQL installed but initdb/pg_ctl not found under /usr/lib/postgresql"
  # The package creates and starts a system cluster ("main", port 5432). We leave it alone.
fi

# Run a PostgreSQL program as the cluster's owner.
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  id "$owner" >/dev/null 2>&1 || die "the 'postgres' system user does not exist (it comes with the postgresql package)"
  as_owner() { runuser -u "$owner" -- "$@"; }
else
  owner=$(id -un)
  as_owner() { "$@"; }
fi

jdbc_url() { echo "jdbc:postgresql://127.0.0.1:$1/$db"; }

running() { [ -f "$data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

running_port() { sed -n 4p "$data/postmaster.pid" 2>/dev/null || true; }

psql_owner() {
  # Over the cluster's private Unix socket (in $dir/socket), as the superuser the cluster was made with.
  as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/socket" -p "$(running_port)" -U postgres -d postgres "$@"
}

ensure_role_and_db() {
  local exists
  exists=$(psql_owner -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$user'")
  local pw=${password//\'/\'\'}
  if [ "$exists" != 1 ]; then
    psql_owner -c "CREATE ROLE \"$user\" LOGIN PASSWORD '$pw'" >/dev/null
  else
    psql_owner -c "ALTER ROLE \"$user\" LOGIN PASSWORD '$pw'" >/dev/null
  fi
  exists=$(psql_owner -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")
  if [ "$exists" != 1 ]; then
    psql_owner -c "CREATE DATABASE \"$db\" OWNER \"$user\" ENCODING 'UTF8' TEMPLATE template0" >/dev/null
  fi
}

case "$cmd" in
  start)
    if [ "$(id -u)" = 0 ]; then
      mkdir -p "$dir" "$dir/socket"
      chown "$owner": "$dir" "$dir/socket"
      chmod 700 "$dir"
      runuser -u "$owner" -- test -w "$dir" \
        || die "the 'postgres' user cannot write $dir: one of its parent directories is not reachable by it (use e.g. --dir /tmp/<name>)"
    else
      mkdir -p "$dir/socket"
      chmod 700 "$dir"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      say "initdb $data (PostgreSQL $("$bindir/postgres" --version | awk '{print $3}'))"
      as_owner "$bindir/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
      # Local socket (trust) only inside the private, owner-only directory; TCP on loopback with a password.
      cat >>"$data/postgresql.conf" <<EOF

# --- scripts/postgres.sh: private cluster on loopback ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/socket'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 512MB
logging_collector = off
EOF
    fi
    if running; then
      rp=$(running_port)
      [ "$rp" = "$port" ] || say "already running on port $rp (not $port); keeping it"
      port=$rp
    else
      say "starting on 127.0.0.1:$port (data $data, log $log)"
      as_owner touch "$log" 2>/dev/null || true
      as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "-p $port" start >/dev/null \
        || { tail -n 30 "$log" >&2; die "could not start PostgreSQL (port $port in use?)"; }
    fi
    ensure_role_and_db
    say "ready: database '$db', user '$user'; example server properties:"
    say "  --spring.profiles.active=postgres --spring.datasource.url=$(jdbc_url "$port") --spring.datasource.username=$user --spring.datasource.password=<password>"
    jdbc_url "$port"
    ;;
  stop)
    if running; then
      as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
      say "stopped ($data)"
    fi
    ;;
  status)
    if running; then echo "running on 127.0.0.1:$(running_port) ($data)"; else echo "stopped ($data)"; exit 3; fi
    ;;
  url)
    running || die "not running ($data)"
    jdbc_url "$(running_port)"
    ;;
  *) die "unknown command '$cmd' (start|stop|status|url)" ;;
esac
