#!/usr/bin/env bash
# SMART on FHIR tests: sets up ./.venv (tests/requirements.txt, the CLI and the dicom_fhir module)
# and runs pytest tests/smart (the server jar must be built: mvn install, or DICOMFHIR_JAR).
# The session fixture `idp` (tests/smart/conftest.py) starts Keycloak with scripts/idp.sh start and
# stops it at the end; the first run of a machine also downloads and builds Keycloak (~1-2 min).
# Extra arguments go to pytest (e.g. -k backend, -rA). Exit status = pytest's.
set -euo pipefail
. "$(dirname "$0")/lib/venv.sh"
venv_prepare
# test_backend_services.py drives the CLI and the Python module
venv_integrator_tools

"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/smart "$@"
