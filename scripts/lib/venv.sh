# The Python side of the test scripts, in one place (source it after `cd "$root"`): the
# virtualenv $root/.venv with the pinned tests/requirements.txt, and the test corpus in .data.
#
#   . scripts/lib/venv.sh
#   venv_init        # $venv = $root/.venv, created if missing, requirements installed
#   venv_test_data   # scripts/fetch-test-data.sh unless .data/pydicom/CT_small.dcm is there

_venv_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

venv_init() {
  venv="$_venv_root/.venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$_venv_root/tests/requirements.txt"
}

venv_test_data() {
  [ -f "$_venv_root/.data/pydicom/CT_small.dcm" ] || "$_venv_root/scripts/fetch-test-data.sh"
}
