#!/usr/bin/env bash
# SMART on FHIR tests: sets up ./.venv (tests/requirements.txt) and runs pytest tests/smart.
# The session fixture `idp` (tests/smart/conftest.py) starts Keycloak with scripts/idp.sh start and
# stops it at the end; the first run of a machine also downloads and builds Keycloak (~1-2 min).
# Extra arguments go to pytest (e.g. -k backend, -rA). Exit status = pytest's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt

"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/smart "$@"
