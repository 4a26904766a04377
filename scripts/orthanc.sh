#!/usr/bin/env bash
# Orthanc + its DICOMweb plugin as a peer for benchmarks and differential tests, kept off the network.
#
# Orthanc 1.10 cannot bind to 127.0.0.1 only: it listens on every interface. So it runs only inside a
# private network namespace that has nothing but loopback, and whoever talks to it (our server, the
# client) runs in the same namespace. Root only (apt-get, unshare, nsenter).
#
#   scripts/orthanc.sh install                     # apt-get install orthanc orthanc-dicomweb (if missing)
#   scripts/orthanc.sh config DIR [--port PORT] [--dicom-port P]  # writes DIR/orthanc.json (storage +
#                                                  #   index in DIR; --dicom-port: its C-STORE SCP, AET ORTHANC)
#   scripts/orthanc.sh start DIR [--port PORT] [--dicom-port P]  # install + config + start Orthanc in THIS namespace,
#                                                  #   wait for /system; refuses on a namespace with a
#                                                  #   network; prints the DICOMweb base URL (last line)
#   scripts/orthanc.sh stop DIR                    # stops the Orthanc started with DIR
#   scripts/orthanc.sh ns CMD [ARG...]             # installs Orthanc (if missing), runs CMD in a new loopback-only network namespace
#   scripts/orthanc.sh standalone DIR [--port P]   # Orthanc in a namespace of its own (prints its PID);
#                                                  #   clients join it: nsenter -t PID -n CMD
#
# The simplest robust use: everything in one namespace, e.g.
#
#   scripts/orthanc.sh ns sh -c 'scripts/orthanc.sh start /tmp/o && python3 client.py; scripts/orthanc.sh stop /tmp/o'
#
# (bench/run.py --phases facade does this itself: it re-runs itself through `orthanc.sh ns`).
# With `standalone`, our server and the client must join Orthanc's namespace:
#
#   pid=$(scripts/orthanc.sh standalone /tmp/o | tail -1)
#   nsenter -t "$pid" -n java -jar server.jar --server.address=127.0.0.1 ...
#   nsenter -t "$pid" -n curl http://127.0.0.1:8042/dicom-web/studies
#   kill "$pid"
#
# Settings: RemoteAccessAllowed false, DicomServerEnabled false (unless --dicom-port), AuthenticationEnabled false,
# HttpCompressionEnabled false (our server does not compress either), StorageDirectory and
# IndexDirectory in DIR, the DICOMweb plugin at /dicom-web/; everything else Orthanc's defaults
# (DICOMweb "SeriesMetadata"/"StudiesMetadata" default "Full": metadata read from the stored files).
#
# ORTHANC_GDCM=1 (environment) also loads the GDCM plugin (Debian `orthanc-gdcm`, installed when
# missing) for JPEG 2000 only (RestrictTransferSyntaxes), which Orthanc's own DCMTK cannot decode:
# e.g. `ORTHANC_GDCM=1 python3 bench/run.py --phases render` to time Orthanc's JPEG 2000 renders.
set -euo pipefail

die() { echo "orthanc.sh: $*" >&2; exit 1; }
say() { echo "orthanc.sh: $*" >&2; }

plugin_path() {
  for p in /usr/share/orthanc/plugins/libOrthancDicomWeb.so /usr/lib/orthanc/libOrthancDicomWeb.so*; do
    [ -e "$p" ] && { echo "$p"; return; }
  done
  p=$(dpkg -L orthanc-dicomweb 2>/dev/null | grep -m1 'libOrthancDicomWeb\.so' || true)
  [ -n "$p" ] || die "libOrthancDicomWeb.so not found (is orthanc-dicomweb installed?)"
  echo "$p"
}

gdcm_path() {
  for p in /usr/share/orthanc/plugins/libOrthancGdcm.so /usr/lib/orthanc/libOrthancGdcm.so*; do
    [ -e "$p" ] && { echo "$p"; return; }
  done
  die "libOrthancGdcm.so not found (is orthanc-gdcm installed?)"
}

install() {
  local packages="orthanc orthanc-dicomweb"
  [ "${ORTHANC_GDCM:-}" != 1 ] || packages="$packages orthanc-gdcm"
  if command -v Orthanc >/dev/null \
    && dpkg-query -W -f='${Status}' orthanc-dicomweb 2>/dev/null | grep -q "install ok installed" \
    && { [ "${ORTHANC_GDCM:-}" != 1 ] || dpkg-query -W -f='${Status}' orthanc-gdcm 2>/dev/null | grep -q "install ok installed"; }; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "Orthanc is not installed; as root: apt-get install -y orthanc orthanc-dicomweb"
  say "installing $packages (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  # The package's post-install would start the system service, which listens on every interface:
  # a policy-rc.d that refuses service starts keeps it down (we never use the system service).
  local policy=/usr/sbin/policy-rc.d created=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  local rc=0
  # shellcheck disable=SC2086 # a list of package names
  apt-get install -y -q --no-install-recommends $packages >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $packages >/dev/null; } \
    || rc=$?
  [ -z "$created" ] || rm -f "$policy"
  [ "$rc" = 0 ] || die "apt-get install $packages failed"
}

# True when this process's network namespace has no interface but loopback.
loopback_only() {
  # (/sys/class/net shows the namespace sysfs was mounted in; `ip` asks the kernel about ours)
  [ "$(ip -o link show | awk -F': ' '{print $2}' | tr -d ' ')" = "lo" ]
}

parse_port() {
  port=8042
  dicom_port=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) port=$2; shift 2 ;;
      --port=*) port=${1#*=}; shift ;;
      --dicom-port) dicom_port=$2; shift 2 ;;
      --dicom-port=*) dicom_port=${1#*=}; shift ;;
      *) die "unknown argument $1" ;;
    esac
  done
}

config() {
  local dir=$1; shift
  parse_port "$@"
  mkdir -p "$dir/storage" "$dir/index"
  dir=$(cd "$dir" && pwd)
  local plugins gdcm=""
  plugins="\"$(plugin_path)\""
  if [ "${ORTHANC_GDCM:-}" = 1 ]; then
    plugins="$plugins, \"$(gdcm_path)\""
    gdcm=',
  "Gdcm": { "Enable": true, "RestrictTransferSyntaxes": ["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"] }'
  fi
  cat >"$dir/orthanc.json" <<EOF
{
  "Name": "dicom-fhir-bench-peer",
  "StorageDirectory": "$dir/storage",
  "IndexDirectory": "$dir/index",
  "HttpPort": $port,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  $(if [ -n "$dicom_port" ]; then
      echo "\"DicomServerEnabled\": true, \"DicomPort\": $dicom_port, \"DicomAet\": \"ORTHANC\", \"DicomCheckCalledAet\": true,"
    else
      echo '"DicomServerEnabled": false,'
    fi)
  "HttpCompressionEnabled": false,
  "SaveJobs": false,
  "Plugins": [$plugins],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" }$gdcm
}
EOF
  echo "$dir/orthanc.json"
}

start() {
  local dir=$1; shift
  parse_port "$@"
  loopback_only || die "this network namespace has interfaces besides lo; run inside: scripts/orthanc.sh ns CMD"
  ip link set lo up
  install
  config "$dir" --port "$port" ${dicom_port:+--dicom-port "$dicom_port"} >/dev/null
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/orthanc.pid" ] && kill -0 "$(cat "$dir/orthanc.pid")" 2>/dev/null; then
    echo "http://127.0.0.1:$port/dicom-web"
    return
  fi
  Orthanc "$dir/orthanc.json" >"$dir/orthanc.log" 2>&1 &
  echo $! >"$dir/orthanc.pid"
  for _ in $(seq 1 120); do
    if curl -sf "http://127.0.0.1:$port/system" >/dev/null 2>&1; then
      echo "http://127.0.0.1:$port/dicom-web"
      return
    fi
    kill -0 "$(cat "$dir/orthanc.pid")" 2>/dev/null || { tail -20 "$dir/orthanc.log" >&2; die "Orthanc exited"; }
    sleep 0.5
  done
  tail -20 "$dir/orthanc.log" >&2
  die "Orthanc did not answer on :$port in 60 s"
}

stop() {
  local dir=$1 pid
  [ -f "$dir/orthanc.pid" ] || return 0
  pid=$(cat "$dir/orthanc.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$dir/orthanc.pid"
}

cmd=${1:-}
[ -n "$cmd" ] || die "usage: orthanc.sh install | config DIR | start DIR | stop DIR | ns CMD... | standalone DIR"
shift
case "$cmd" in
  install) install ;;
  config) [ $# -ge 1 ] || die "config DIR"; install; config "$@" ;;
  start) [ $# -ge 1 ] || die "start DIR"; start "$@" ;;
  stop) [ $# -ge 1 ] || die "stop DIR"; stop "$1" ;;
  ns)
    [ $# -ge 1 ] || die "ns CMD [ARG...]"
    [ "$(id -u)" = 0 ] || die "ns needs root (unshare -n)"
    install # here: inside the namespace apt-get cannot reach the archive
    exec unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$@" ;;
  standalone)
    [ $# -ge 1 ] || die "standalone DIR"
    [ "$(id -u)" = 0 ] || die "standalone needs root (unshare -n)"
    install
    cfg=$(config "$@")
    unshare -n sh -c 'ip link set lo up && exec Orthanc "$1"' sh "$cfg" >"$(dirname "$cfg")/orthanc.log" 2>&1 &
    echo $! >"$(dirname "$cfg")/orthanc.pid"
    echo $! ;;
  *) die "unknown command $cmd" ;;
esac
