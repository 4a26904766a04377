#!/usr/bin/env bash
# Builds dicom-fhir and starts the example HAPI FHIR server (with the plugin) in the foreground.
#
#   scripts/serve.sh                      # build if needed, serve on http://localhost:8080/fhir
#   scripts/serve.sh --server.port=9090   # any further argument goes to the server (Spring Boot)
#   scripts/serve.sh --spring.profiles.active=postgres   # PostgreSQL, see docs/operators.md
#
# Environment:
#   SERVE_BUILD=auto|always|never   auto (default): rebuild only when a source is newer than the jar
#   JAVA_OPTS                       extra JVM options (default: see DEFAULT_JAVA_OPTS below)
#   SERVER_PORT                     port (default 8080), same as --server.port
#   EXAMPLE_DATA_DIR                H2 database + binary store (default ./examples/data of the repo)
#   SERVE_RUN_DIR                   where the jar is extracted and its class data sharing archive
#                                   kept (default examples/target/server; emptied when the jar changes)
#
# Idempotent: the second run only checks timestamps and starts the server.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

die() { echo "serve.sh: $*" >&2; exit 1; }

# ---------------------------------------------------------------- prerequisites
# Nothing is installed from apt; we only check and explain.
missing=0
check() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "serve.sh: '$1' not found on PATH. $2" >&2
    missing=1
  fi
}
check java  "Install a JDK 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless)."
check mvn   "Install Apache Maven 3.8 or newer (Debian/Ubuntu: apt-get install maven)."
check cargo "Install Rust (https://rustup.rs); cargo builds the native DICOM library."
[ "$missing" = 0 ] || exit 1

java_major=$(java -XshowSettings:properties -version 2>&1 \
  | sed -n 's/^ *java\.specification\.version = *//p' | head -n1)
case "$java_major" in
  1.*|"") die "Java 17 or newer is required (found: ${java_major:-unknown}); check 'java -version'." ;;
esac
[ "$java_major" -ge 17 ] 2>/dev/null || die "Java 17 or newer is required (found $java_major)."

# ---------------------------------------------------------------- build
find_jar() {
  ls -t examples/target/dicom-fhir-example-server-*.jar 2>/dev/null | head -n1 || true
}

needs_build() {
  local jar
  jar=$(find_jar)
  [ -n "$jar" ] || return 0
  # Any build input newer than the server jar?
  [ -n "$(find pom.xml Cargo.toml Cargo.lock rust java-bridge hapi-interceptor examples \
            \( -path '*/target' -o -path 'examples/data' \) -prune -o \
            -type f -newer "$jar" -print 2>/dev/null | head -n1)" ]
}

build=${SERVE_BUILD:-auto}
case "$build" in
  always) do_build=1 ;;
  never)  do_build=0 ;;
  auto)   if needs_build; then do_build=1; else do_build=0; fi ;;
  *)      die "SERVE_BUILD must be auto, always or never (got '$build')." ;;
esac

if [ "$do_build" = 1 ]; then
  echo "serve.sh: building (mvn -B -q -DskipTests install; includes cargo build --release) ..."
  start=$(date +%s)
  mvn -B -q -DskipTests install
  echo "serve.sh: build done in $(( $(date +%s) - start ))s"
else
  echo "serve.sh: build is up to date (SERVE_BUILD=always to force a rebuild)"
fi

jar=$(find_jar)
[ -n "$jar" ] || die "no examples/target/dicom-fhir-example-server-*.jar after the build."

# Run from an extracted copy (plain jars on the class path): starts ~25% faster than the
# nested-jar launcher. Re-extracted only when the jar changed.
# absolute: the class data sharing archive records the class path as given, and the server must
# be started with the same one
run_dir=$(realpath -m "${SERVE_RUN_DIR:-$root/examples/target/server}")
run_jar="$run_dir/server.jar"
if [ ! -f "$run_jar" ] || [ "$jar" -nt "$run_jar" ]; then
  rm -rf "$run_dir"
  java -Djarmode=tools -jar "$jar" extract --destination "$run_dir" --application-filename server.jar >/dev/null \
    || die "could not extract $jar"
  touch "$run_jar"
fi

# C1-only JIT: the server starts much faster; DICOM parsing runs in native code anyway.
DEFAULT_JAVA_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseParallelGC"

# ---------------------------------------------------------------- class data sharing
# An AppCDS archive of the classes a start-up loads: the JVM maps them instead of reading and
# verifying some 21,000 classes again (start-up about 40 % shorter, docs/benchmarks.md). Made once
# per extracted jar: a training run starts the application context on a throwaway store and exits
# (Spring Boot's spring.context.exit=onRefresh) writing the class list, then -Xshare:dump. JDK 17's
# dynamic archive (-XX:ArchiveClassesAtExit) and a dump of the lambda proxies both crash Debian's
# 17.0.15 (SystemDictionaryShared::adjust_lambda_proxy_class_dictionary), so the list leaves the
# lambda proxies out. Anything failing here only means no archive; a JVM that cannot use the
# archive ignores it. SERVE_CDS=off skips it.
cds_archive="$run_dir/server.jsa"
cds_opts=""
if [ "${SERVE_CDS:-auto}" != off ]; then
  if [ ! -f "$cds_archive" ] || [ "$run_jar" -nt "$cds_archive" ]; then
    echo "serve.sh: preparing the class data sharing archive (once per build, 1-2 minutes) ..."
    training=$(mktemp -d)
    # on the default profile and an empty H2, whatever the environment says (never the real database)
    # shellcheck disable=SC2086
    if env -u SPRING_PROFILES_ACTIVE -u SPRING_DATASOURCE_URL -u SPRING_APPLICATION_JSON \
         java ${JAVA_OPTS:-$DEFAULT_JAVA_OPTS} -XX:ErrorFile="$training/hs_err_pid%p.log" \
         -XX:DumpLoadedClassList="$training/classes.all" \
         -Dspring.context.exit=onRefresh -jar "$run_jar" --server.port=0 --server.address=127.0.0.1 \
         --example.data-dir="$training/data" >"$training/training.log" 2>&1 \
       && grep -v '^@lambda-proxy' "$training/classes.all" >"$training/classes" \
       && java ${JAVA_OPTS:-$DEFAULT_JAVA_OPTS} -XX:ErrorFile="$training/hs_err_pid%p.log" -Xshare:dump \
            -XX:SharedClassListFile="$training/classes" \
            -XX:SharedArchiveFile="$cds_archive.$$" -cp "$run_jar" >"$training/dump.log" 2>&1 \
       && [ -s "$cds_archive.$$" ] && mv -f "$cds_archive.$$" "$cds_archive"; then
      # (renamed into place on the same file system: a serve.sh starting meanwhile never maps half an archive)
      echo "serve.sh: class data sharing archive ready ($cds_archive)"
    else
      echo "serve.sh: no class data sharing archive (logs: $training.log); starting without" >&2
      cat "$training"/*.log >"$training.log" 2>/dev/null || true
      rm -f "$cds_archive" "$cds_archive.$$"
    fi
    rm -rf "$training"
  fi
  [ -f "$cds_archive" ] && cds_opts="-XX:SharedArchiveFile=$cds_archive"
fi

# ---------------------------------------------------------------- viewer
# The OHIF viewer (prebuilt, from npm; pinned in the script) is served at the server root. Without
# npm or the registry the server still starts, without a viewer.
viewer_url=""
if ./scripts/fetch-viewer.sh; then
  viewer_url=yes
else
  echo "serve.sh: no OHIF viewer (scripts/fetch-viewer.sh failed); the FHIR and DICOMweb APIs work without it" >&2
fi

# ---------------------------------------------------------------- run
port=${SERVER_PORT:-8080}
for arg in "$@"; do
  case "$arg" in
    --server.port=*) port=${arg#--server.port=} ;;
  esac
done

# shellcheck disable=SC2086
set -- ${JAVA_OPTS:-$DEFAULT_JAVA_OPTS} $cds_opts -jar "$run_jar" "$@"

echo "serve.sh: starting $jar (extracted to $run_dir)"
echo "serve.sh: FHIR base URL: http://localhost:${port}/fhir   (ready when the log says 'FHIR server ready')"
if [ -n "$viewer_url" ]; then
  echo "serve.sh: OHIF viewer:   http://localhost:${port}/        (study list; DICOMweb at /fhir/dicomweb)"
fi
exec java "$@"
