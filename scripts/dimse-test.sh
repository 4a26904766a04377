#!/usr/bin/env bash
# DIMSE tests of `dicom-fhir listen` (tests/dimse) with real clients: dcmtk's echoscu/storescu/findscu
# and getscu/movescu/storescp, and pynetdicom, against the example server (tests/server_harness.py starts it from the jar).
# Builds what it needs: dcmtk and systemd-analyze (Debian packages, installed when missing; root), ./.venv with
# tests/requirements.txt (pynetdicom), the test corpus, the CLI (release) and, when there is no
# jar (and DICOMFHIR_JAR is not set), the example server with `mvn package` (never install).
# Extra arguments go to pytest (e.g. -k conflict, -rA). Exit status = pytest's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

die() { echo "dimse-test.sh: $*" >&2; exit 1; }

if ! command -v storescu >/dev/null || ! command -v echoscu >/dev/null || ! command -v findscu >/dev/null \
    || ! command -v getscu >/dev/null || ! command -v movescu >/dev/null || ! command -v storescp >/dev/null; then
  [ "$(id -u)" = 0 ] || die "dcmtk is not installed; as root: apt-get install -y dcmtk"
  echo "dimse-test.sh: installing dcmtk (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends dcmtk >/dev/null
fi
command -v storescu >/dev/null || die "dcmtk installed but storescu not found"
# the documented systemd unit is checked with systemd-analyze verify
if ! command -v systemd-analyze >/dev/null; then
  [ "$(id -u)" = 0 ] || die "systemd-analyze is not installed; as root: apt-get install -y systemd"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

. scripts/lib/venv.sh
venv_prepare

cargo build --release --locked -p dicom-fhir-cli
export DICOMFHIR_CLI="$root/target/release/dicom-fhir"

if [ -z "${DICOMFHIR_JAR:-}" ] && ! ls examples/target/dicom-fhir-example-server-*.jar >/dev/null 2>&1; then
  mvn -B -ntp -q package -DskipTests
fi

"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/dimse "$@"
