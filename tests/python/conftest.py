"""Fixtures of the tests of the `dicom_fhir` Python module and the `dicom-fhir` CLI.

Offline tests need the corpus (scripts/fetch-test-data.sh, or DICOMFHIR_DATA) and the built
module / CLI. Server tests need DICOMFHIR_BASE_URL (scripts/e2e.sh sets it; the `base_url` and
`fhir` fixtures are in tests/conftest.py); the tamper test also needs DICOMFHIR_BINSTORE, the
server's binary store directory. Anything missing is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dicom_copies import write_copies

ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    return Path(os.environ.get("DICOMFHIR_DATA", str(ROOT / ".data")))


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = data_dir() / "pydicom"
    if not path.is_dir():
        pytest.fail(f"no test corpus at {path}: run scripts/fetch-test-data.sh")
    return path


@pytest.fixture(scope="session")
def ct_small(corpus) -> Path:
    return corpus / "CT_small.dcm"


def cli_path() -> Path | None:
    env = os.environ.get("DICOMFHIR_CLI")
    if env:
        return Path(env)
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "dicom-fhir"
        if p.exists():
            return p
    found = shutil.which("dicom-fhir")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def cli() -> Path:
    path = cli_path()
    if path is None or not path.exists():
        pytest.fail("dicom-fhir CLI not built: cargo build --release -p dicom-fhir-cli (or set DICOMFHIR_CLI)")
    return path


@pytest.fixture(scope="session")
def run_cli(cli):
    def run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        full_env = dict(os.environ)
        full_env.pop("DICOMFHIR_TOKEN", None)
        full_env.update(env or {})
        return subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=full_env)

    return run


@pytest.fixture
def make_copies(ct_small, tmp_path):
    """make_copies(n, study_uid=None) -> (folder, [paths], study_uid): copies of CT_small in one
    new study, each with new Series/SOP Instance UIDs, so the server state is this test's own."""
    counter = [0]

    def make(n: int, study_uid: str | None = None, folder: Path | None = None):
        counter[0] += 1
        folder = folder or tmp_path / f"copies{counter[0]}"
        paths, study = write_copies(ct_small, folder, n, study_uid)
        return folder, paths, study

    return make
