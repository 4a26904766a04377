# The Python side of the test scripts, in one place (source it; venv_prepare also goes to the
# repository root): the virtualenv $root/.venv with the pinned tests/requirements.txt, and the
# test corpus in .data.
#
#   . "$(dirname "$0")/lib/venv.sh"
#   venv_prepare     # the test scripts' preamble: cd to the repository root ($root), venv_init,
#                    # venv_test_data
#   venv_init        # $venv = $root/.venv, created if missing, requirements installed
#   venv_test_data   # scripts/fetch-test-data.sh unless .data/pydicom/CT_small.dcm is there
#   venv_integrator_tools  # the CLI (target/release/dicom-fhir) and the dicom_fhir module in $venv

_venv_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

venv_init() {
  venv="$_venv_root/.venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$_venv_root/tests/requirements.txt"
}

venv_prepare() {
  root=$_venv_root
  cd "$root"
  venv_init
  venv_test_data
}

venv_test_data() {
  [ -f "$_venv_root/.data/pydicom/CT_small.dcm" ] || "$_venv_root/scripts/fetch-test-data.sh"
}

# The integrator tools under test: the CLI binary and the Python module, built from this tree
# (sharing the workspace's target directory, so nothing is compiled twice).
venv_integrator_tools() {
  (cd "$_venv_root" && cargo build --release --locked -p dicom-fhir-cli)
  (cd "$_venv_root" && CARGO_TARGET_DIR="$_venv_root/target" "$venv/bin/pip" install --quiet --disable-pip-version-check ./rust/python)
  export DICOMFHIR_CLI="$_venv_root/target/release/dicom-fhir"
}
