"""Fixtures of the tests of the `dicom_fhir` Python module and the `dicom-fhir` CLI.

Offline tests need the corpus (scripts/fetch-test-data.sh, or DICOMFHIR_DATA) and the built
module / CLI. Server tests run when DICOMFHIR_BASE_URL is set (scripts/e2e.sh sets it); the
tamper test also needs DICOMFHIR_BINSTORE, the server's binary store directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DICOM_TAG = "http://dicomfhir.org/fhir/CodeSystem/tags|dicom"


def data_dir() -> Path:
    return Path(os.environ.get("DICOMFHIR_DATA", str(ROOT / ".data")))


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = data_dir() / "pydicom"
    if not path.is_dir():
        pytest.skip(f"no test corpus at {path}: run scripts/fetch-test-data.sh")
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
        pytest.skip("dicom-fhir CLI not built: cargo build --release -p dicom-fhir-cli (or set DICOMFHIR_CLI)")
    return path


@pytest.fixture(scope="session")
def run_cli(cli):
    def run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        full_env = dict(os.environ)
        full_env.pop("DICOMFHIR_TOKEN", None)
        full_env.update(env or {})
        return subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=full_env)

    return run


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("DICOMFHIR_BASE_URL")
    if not url:
        pytest.skip("DICOMFHIR_BASE_URL not set: no running server to test against (scripts/e2e.sh sets it)")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def fhir(base_url):
    import requests

    session = requests.Session()
    session.headers["Accept"] = "application/fhir+json"

    class Client:
        base = base_url

        def get(self, path, **params):
            r = session.get(f"{base_url}/{path}", params=params, timeout=120)
            return r

        def read(self, path):
            r = self.get(path)
            assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:500]}"
            return r.json()

        def put(self, path, resource, **headers):
            return session.put(f"{base_url}/{path}", json=resource,
                               headers={"Content-Type": "application/fhir+json", **headers}, timeout=120)

        def dicom_count(self) -> int:
            return self.read(f"Binary?_tag={DICOM_TAG}&_summary=count")["total"]

    return Client()


@pytest.fixture
def make_copies(ct_small, tmp_path):
    """make_copies(n, study_uid=None) -> (folder, [paths], study_uid): copies of CT_small in one
    new study, each with new Series/SOP Instance UIDs, so the server state is this test's own."""
    import pydicom
    from pydicom.uid import generate_uid

    counter = [0]

    def make(n: int, study_uid: str | None = None, folder: Path | None = None):
        counter[0] += 1
        folder = folder or tmp_path / f"copies{counter[0]}"
        folder.mkdir(parents=True, exist_ok=True)
        study = study_uid or generate_uid()
        series = generate_uid()
        paths = []
        for i in range(n):
            ds = pydicom.dcmread(ct_small)
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = series
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.InstanceNumber = i + 1
            path = folder / f"img{i:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
        return folder, paths, study

    return make
