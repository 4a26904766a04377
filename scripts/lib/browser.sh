# What both browser tests need before their first server starts (source it after `cd "$root"`):
# Debian's Chromium (apt, when missing), the tools, tests/browser's npm packages (npm ci, pinned,
# no browser download), the OHIF build, the server JAR (built when missing), the .venv and the
# test corpus.
#
#   . scripts/lib/browser.sh
#   browser_prepare NAME [TOOL...]   # NAME for messages; TOOLs needed besides node npm python3 java
#
# Sets $chromium (CHROMIUM, default /usr/bin/chromium) and $venv; sources scripts/lib/server.sh.

_browser_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

browser_prepare() {
  local name=$1 tool sudo=sudo
  shift
  chromium=${CHROMIUM:-/usr/bin/chromium}
  if [ ! -x "$chromium" ]; then
    echo "== installing Debian's chromium (apt-get)"
    [ "$(id -u)" = 0 ] && sudo=""
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
  for tool in node npm python3 java "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: missing $tool (see README)"; exit 1; }
  done

  echo "== npm ci (tests/browser: playwright-core, no browser download)"
  (cd "$_browser_root/tests/browser" && npm ci --silent --no-audit --no-fund)

  echo "== OHIF viewer"
  "$_browser_root/scripts/fetch-viewer.sh"

  . "$_browser_root/scripts/lib/server.sh"
  if ! server_find_jar >/dev/null; then
    echo "== building the server JAR (mvn package -DskipTests)"
    (cd "$_browser_root" && mvn -B -ntp -q package -DskipTests)
  fi

  # pydicom (and numpy) for the test studies: the same virtualenv and pins as scripts/e2e.sh.
  . "$_browser_root/scripts/lib/venv.sh"
  venv_init
  [ -f "$_browser_root/.data/pydicom/CT_small.dcm" ] && [ -f "$_browser_root/.data/pydicom-data/emri_small_jpeg_2k_lossless.dcm" ] \
    || "$_browser_root/scripts/fetch-test-data.sh"
}
