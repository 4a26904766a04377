#!/usr/bin/env bash
# Follows docs/operators.md §1.2 ("ROOT.war without Docker") and §2 with the OFFICIAL
# hapi-fhir-jpaserver-starter and this repository's plugin JAR, on loopback, and runs the checks
# of issue 17 against it with curl. Exits non-zero when any check fails; stops what it started.
#
#   scripts/starter-check.sh [--starter DIR | --starter-url URL] [--ref TAG] [--plugin JAR]
#                            [--db h2|postgres] [--work DIR] [--port PORT] [--keep-work]
#
#   --starter DIR      a checkout of the starter; its target/ROOT.war is used when present,
#                      else built there (mvn -ntp package -DskipTests spring-boot:repackage -Pboot)
#   --starter-url URL  clone from this URL or path into WORK/starter, check out --ref, build there
#                      (default when --starter is not given: https://github.com/hapifhir/hapi-fhir-jpaserver-starter.git)
#   --ref TAG          the starter tag to check out (default image/v8.8.0-1)
#   --plugin JAR       the plugin (default: hapi-interceptor/target/dicom-fhir-hapi-*.jar, never original-*)
#   --db               h2 (a FILE database in WORK, the default) or postgres (a private cluster
#                      through scripts/postgres.sh, PostgreSQL must be installed)
#   --work DIR         where the config, database, blobs and log go (default: a new /tmp directory,
#                      removed at the end unless --keep-work or a check failed)
#
# Needs java 17+, mvn (and Maven Central, the first time: the starter's dependencies are ~1 GB),
# curl, python3, git. Building the starter took 2.5 min on 2 busy cores (longer with an empty
# ~/.m2); each of the two server starts 1.5–3 min; the checks a few seconds. Not part of
# scripts/test.sh. Its record: docs/operators.md §5.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
me=${0##*/}
die() { echo "$me: $*" >&2; exit 2; }
say() { echo "$me: $*" >&2; }

starter_dir=
starter_url=
ref=image/v8.8.0-1
plugin=
db=h2
work=
port=
keep_work=
while [ $# -gt 0 ]; do
  case "$1" in
    --starter) starter_dir=$2; shift 2 ;;
    --starter-url) starter_url=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    --plugin) plugin=$2; shift 2 ;;
    --db) db=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --keep-work) keep_work=1; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
case "$db" in h2|postgres) ;; *) die "--db must be h2 or postgres" ;; esac
for tool in java mvn curl python3 git; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

if [ -z "$plugin" ]; then
  plugin=$(ls -t "$root"/hapi-interceptor/target/dicom-fhir-hapi-*.jar 2>/dev/null | grep -v '/original-' | head -n1 || true)
fi
[ -n "$plugin" ] && [ -f "$plugin" ] || die "no plugin JAR (build it: mvn -B -ntp package -DskipTests, or pass --plugin)"
case "${plugin##*/}" in original-*) die "$plugin is Maven's pre-shade JAR without the bridge; use the one without original-" ;; esac

ct=$root/.data/pydicom/CT_small.dcm
mr=$root/.data/pydicom/MR_small.dcm
[ -f "$ct" ] && [ -f "$mr" ] || die "test data missing: $ct, $mr (scripts/fetch-test-data.sh)"

if [ -n "$work" ]; then mkdir -p "$work"; work=$(cd "$work" && pwd); else work=$(mktemp -d /tmp/starter-check.XXXXXX); fi
[ -n "$port" ] || port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# ------------------------------------------------------------------ clean-up
server_pid=
pg_started=
failures=0
cleanup() {
  local status=$?
  stop_server
  if [ -n "$pg_started" ]; then "$root/scripts/postgres.sh" stop --dir "$work/pg" >/dev/null 2>&1 || true; fi
  if [ "$status" = 0 ] && [ -z "$keep_work" ]; then
    rm -rf "$work/h2" "$work/binstore" "$work/pg" "$work/plugins" "$work"/*.log "$work"/*.yaml "$work/tmp" "$work"/out.*
    rmdir "$work" 2>/dev/null || true
    if [ -d "$work/starter" ]; then say "kept $work/starter (the clone and its WAR: pass --starter $work/starter next time)"; fi
  else
    say "kept $work (server logs: $work/server-*.log)"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_server() {
  [ -n "$server_pid" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# ------------------------------------------------------------------ the starter WAR (§1.2)
if [ -z "$starter_dir" ]; then
  starter_url=${starter_url:-https://github.com/hapifhir/hapi-fhir-jpaserver-starter.git}
  starter_dir=$work/starter
  if [ ! -d "$starter_dir/.git" ]; then
    say "cloning $starter_url ($ref) into $starter_dir"
    # Only the main sources are needed (tests are skipped); leaving src/test out also avoids the
    # large test bundles, which partial mirrors may lack.
    git clone -q --no-checkout "$starter_url" "$starter_dir"
    git -C "$starter_dir" sparse-checkout set --no-cone '/*' '!/src/test/'
    git -C "$starter_dir" checkout -q "$ref"
  fi
fi
[ -f "$starter_dir/pom.xml" ] || die "$starter_dir is not a starter checkout"
starter_commit=$(git -C "$starter_dir" rev-parse HEAD 2>/dev/null || echo unknown)
war=$starter_dir/target/ROOT.war
if [ ! -f "$war" ]; then
  say "building the starter WAR in $starter_dir (Maven Central; minutes)"
  (cd "$starter_dir" && nice mvn -B -ntp -q package -DskipTests spring-boot:repackage -Pboot) \
    || die "starter build failed"
fi
[ -f "$war" ] || die "no $war after the build"
say "starter $starter_commit, WAR $war ($(du -h "$war" | cut -f1)), plugin ${plugin##*/}, $(java -version 2>&1 | head -n1)"

# ------------------------------------------------------------------ deploy layout (§1, §2)
mkdir -p "$work/plugins" "$work/binstore" "$work/tmp"
rm -f "$work"/plugins/*.jar
cp "$plugin" "$work/plugins/"          # the one JAR; original-*.jar stays behind

if [ "$db" = postgres ]; then
  pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pg_url=$("$root/scripts/postgres.sh" start --dir "$work/pg" --port "$pg_port" | tail -n1)
  pg_started=1
  datasource="    url: $pg_url
    username: hapi
    password: hapi
    driverClassName: org.postgresql.Driver"
  dialect=ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect
else
  # WRITE_DELAY=0: a commit is on disk when it returns; DB_CLOSE_ON_EXIT=FALSE: H2's own JVM
  # shutdown hook does not close the database under HAPI's last background tasks (Spring closes it).
  datasource="    url: jdbc:h2:file:$work/h2/hapi;WRITE_DELAY=0;DB_CLOSE_ON_EXIT=FALSE
    username: sa
    password: null
    driverClassName: org.h2.Driver"
  dialect=ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect
fi

base=http://127.0.0.1:$port/fhir
cat >"$work/application.yaml" <<EOF
server:
  address: 127.0.0.1
  port: $port
  tomcat:
    relaxed-query-chars: "^,|,[,],{,},\\\\"
spring:
  datasource:
$datasource
  jpa:
    properties:
      hibernate.dialect: $dialect
      hibernate.search.enabled: false
hapi:
  fhir:
    fhir_version: R4
    custom-bean-packages: org.dicomfhir.hapi
    client_id_strategy: ALPHANUMERIC
    binary_storage_enabled: true
    binary_storage_mode: FILESYSTEM
    binary_storage_filesystem_base_directory: $work/binstore
    binary_storage_minimum_binary_size: 1
    reuse_cached_search_results_millis: 0
    allow_multiple_delete: true
    expunge_enabled: true
    delete_expunge_enabled: false
    server_address: $base
EOF

run=0
start_server() {
  run=$((run + 1))
  local log=$work/server-$run.log
  say "starting the starter (run $run) on $base, log $log"
  # Exactly §1.2, from the WAR's directory (the loader.path entries ROOT.war!/… are relative to it).
  (cd "$(dirname "$war")" && exec java \
      --class-path ROOT.war \
      -Dloader.path=ROOT.war!/WEB-INF/classes/,ROOT.war!/WEB-INF/,"$work/plugins" \
      -Dspring.config.additional-location=file:"$work/application.yaml" \
      org.springframework.boot.loader.PropertiesLauncher) >"$log" 2>&1 &
  server_pid=$!
  local deadline=$((SECONDS + ${STARTER_START_SECONDS:-600}))
  until curl -fsS --max-time 5 -o /dev/null "$base/metadata" 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || { tail -n 40 "$log" >&2; die "the starter exited during start-up"; }
    [ $SECONDS -lt $deadline ] || { tail -n 40 "$log" >&2; die "the starter did not answer within ${STARTER_START_SECONDS:-600} s"; }
    sleep 2
  done
  # /metadata answers once Tomcat is up; the start-up is over with Spring's "Started" line.
  while ! grep -q 'Started Application in' "$log" && [ $SECONDS -lt $deadline ]; do sleep 1; done
  say "up: $(grep -o 'Started Application in [0-9.]* seconds' "$log" | head -n1)"
  server_log=$log
}

# ------------------------------------------------------------------ checks
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failures=$((failures + 1)); }
check() { # DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then ok "$1 ($3)"; else bad "$1: expected $2, got $3"; fi
}
status() { # curl arguments...: prints the HTTP status, body to $work/out.body, headers to $work/out.head
  : >"$work/out.body"; : >"$work/out.head"
  curl -sS -g -o "$work/out.body" -D "$work/out.head" -w '%{http_code}' "$@" || true   # 000: no answer
}
header() { grep -i "^$1:" "$work/out.head" | head -n1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
multipart_to() { # FILE: the single part of $work/out.body (multipart/related) into FILE
  python3 - "$work/out.head" "$work/out.body" "$1" <<'PY'
import sys, re
head = open(sys.argv[1], encoding="latin-1").read()
m = re.search(r'boundary="?([^";\r\n]+)"?', head, re.I)
body = open(sys.argv[2], "rb").read()
parts = body.split(b"--" + m.group(1).encode())
part = [p for p in parts[1:] if not p.startswith(b"--")][0]
payload = part.split(b"\r\n\r\n", 1)[1]
if payload.endswith(b"\r\n"):
    payload = payload[:-2]
open(sys.argv[3], "wb").write(payload)
PY
}
same_bytes() { cmp -s "$1" "$2" && echo identical || echo different; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

start_server
grep -q 'dicom-fhir plugin active' "$server_log" && ok "plugin loaded from loader.path ($(grep -o 'dicom-fhir plugin active.*' "$server_log" | head -n1))" \
  || bad "the log has no 'dicom-fhir plugin active' line: the plugin was not scanned"

# The starter caches search results for 60 s by default: the same search before and after an
# upload shows whether reuse_cached_search_results_millis: 0 took.
check "ImagingStudy search before any upload" 200 "$(status "$base/ImagingStudy?_elements=id")"
check "  ... finds nothing" 0 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("total", 0))' "$work/out.body")"

check "Binary upload (raw POST application/dicom) of CT_small.dcm" 201 \
  "$(status -X POST -H 'Content-Type: application/dicom' --data-binary @"$ct" "$base/Binary")"
ct_sha=$(sha "$ct")
check "  ... its Location is Binary/<sha256>" yes "$(header Location | grep -q "Binary/$ct_sha" && echo yes || echo "no: $(header Location)")"

check "the same ImagingStudy search right after the upload" 200 "$(status "$base/ImagingStudy?_elements=id")"
ct_study=$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(",".join(e["resource"]["id"] for e in b.get("entry", [])))' "$work/out.body")
check "  ... finds the new ImagingStudy (one)" yes "$([ -n "$ct_study" ] && [ "${ct_study#*,}" = "$ct_study" ] && echo yes || echo "no: '$ct_study'")"

boundary=starter-check-$$
{ printf -- '--%s\r\nContent-Type: application/dicom\r\n\r\n' "$boundary"; cat "$mr"; printf -- '\r\n--%s--\r\n' "$boundary"; } >"$work/out.stow"
check "STOW-RS of MR_small.dcm" 200 \
  "$(status -X POST -H "Content-Type: multipart/related; type=\"application/dicom\"; boundary=$boundary" \
      -H 'Accept: application/dicom+json' --data-binary @"$work/out.stow" "$base/dicomweb/studies")"
mr_url=$(python3 -c '
import json,sys
r = json.load(open(sys.argv[1]))
print(r["00081199"]["Value"][0]["00081190"]["Value"][0])' "$work/out.body" 2>/dev/null || true)
check "  ... answers the instance's RetrieveURL" yes "$(case "$mr_url" in "$base"/dicomweb/studies/*/instances/*) echo yes ;; *) echo "no: '$mr_url'" ;; esac)"
mr_study=${mr_url#"$base"/dicomweb/studies/}; mr_study=${mr_study%%/*}

qido_finds() { # STUDY UID: QIDO by StudyInstanceUID, prints found / the status
  local s
  s=$(status -H 'Accept: application/dicom+json' "$base/dicomweb/studies?StudyInstanceUID=$1")
  if [ "$s" = 200 ] && grep -q "$1" "$work/out.body"; then echo found; else echo "status $s, not found"; fi
}
wado_same() { # STUDY UID, FILE: WADO-RS of the study equals FILE byte for byte
  local s
  s=$(status -H 'Accept: multipart/related; type="application/dicom"' "$base/dicomweb/studies/$1")
  [ "$s" = 200 ] || { echo "status $s"; return; }
  multipart_to "$work/out.dcm" && same_bytes "$2" "$work/out.dcm"
}
check "QIDO-RS finds the Binary-uploaded study" found "$(qido_finds "$ct_study")"
check "QIDO-RS finds the STOW-RS study" found "$(qido_finds "$mr_study")"
check "WADO-RS of the Binary-uploaded study is byte-identical" identical "$(wado_same "$ct_study" "$ct")"
check "WADO-RS of the STOW-RS study is byte-identical" identical "$(wado_same "$mr_study" "$mr")"

# Raw characters, as curl, a browser or a shell script send them (curl -g sends them unencoded).
for q in 'PatientName=doe^john' 'PatientName=[doe]' 'PatientName={doe}' 'PatientID=a|b' 'StudyInstanceUID=1.2.3\1.2.4'; do
  s=$(status -H 'Accept: application/dicom+json' "$base/dicomweb/studies?$q")
  check "raw query '$q' reaches the facade" "200 json" "$s $(case "$(header Content-Type)" in application/dicom+json*|application/json*) echo json ;; *) echo "'$(header Content-Type)'" ;; esac)"
done

origin=http://viewer.example.org
status -H "Origin: $origin" -H 'Accept: application/dicom+json' "$base/dicomweb/studies" >/dev/null
check "CORS: QIDO from another origin has Access-Control-Allow-Origin" "$origin" "$(header Access-Control-Allow-Origin)"
s=$(status -X OPTIONS -H "Origin: $origin" -H 'Access-Control-Request-Method: GET' \
      -H 'Access-Control-Request-Headers: accept' "$base/dicomweb/studies/$ct_study/metadata")
check "CORS: preflight of a WADO-RS path" "200 $origin" "$s $(header Access-Control-Allow-Origin)"

grep -q "GET /fhir/dicomweb/studies?StudyInstanceUID -> 200" "$server_log" \
  && ok "access log: $(grep -o 'GET /fhir/dicomweb/studies?StudyInstanceUID -> 200.*' "$server_log" | head -n1)" \
  || bad "access log: no 'GET /fhir/dicomweb/studies?StudyInstanceUID -> 200' line"
grep -q "POST /fhir/dicomweb/studies -> 200" "$server_log" && ok "access log has the STOW-RS request" \
  || bad "access log: no 'POST /fhir/dicomweb/studies -> 200' line"

# A refused upload: one line, no stack trace.
lines_before=$(wc -l <"$server_log")
printf 'this is not DICOM' >"$work/out.bad"
s=$(status -X POST -H 'Content-Type: application/dicom' --data-binary @"$work/out.bad" "$base/Binary")
check "upload of non-DICOM bytes is refused" 4xx "$(case "$s" in 4??) echo 4xx ;; *) echo "$s" ;; esac)"
sleep 1 # the log line is written by the request thread before the answer; this only lets the console flush
new=$(tail -n +"$((lines_before + 1))" "$server_log")
refused=$(grep -c 'Refused, ' <<<"$new" || true)
traces=$(grep -cE '^[[:space:]]+at [a-zA-Z]' <<<"$new" || true)
check "  ... logs one 'Refused, …' line" 1 "$refused"
check "  ... and no stack trace lines" 0 "$traces"
echo "     the log lines of that request:"; sed 's/^/       /' <<<"$new"

# Restart: the database and the blobs stay.
stop_server
start_server
check "after a restart: GET Binary/<sha256> of CT_small" 200 "$(status -H 'Accept: application/dicom' "$base/Binary/$ct_sha")"
check "  ... byte-identical" identical "$(same_bytes "$ct" "$work/out.body")"
check "after a restart: QIDO-RS finds both studies" "found found" "$(qido_finds "$ct_study") $(qido_finds "$mr_study")"
check "after a restart: WADO-RS of the STOW-RS study is byte-identical" identical "$(wado_same "$mr_study" "$mr")"
check "after a restart: FHIR search finds both ImagingStudies" 2 \
  "$(status "$base/ImagingStudy?_elements=id" >/dev/null; python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("entry", [])))' "$work/out.body")"

stop_server
echo
if [ "$failures" = 0 ]; then
  echo "$me: all checks passed (starter $starter_commit, db $db)"
else
  echo "$me: $failures check(s) failed (starter $starter_commit, db $db)"
  exit 1
fi
