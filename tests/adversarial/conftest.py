"""Fixtures of the adversarial tests: helpers over the running server (DICOMFHIR_BASE_URL, set by
scripts/adversarial.sh, which starts it with --dicomfhir.max-upload-bytes=1048576; the base_url
and fhir fixtures are tests/conftest.py's). A missing server is a failure here, never a skip."""

from __future__ import annotations

import pytest

from adv_util import FHIR_JSON, Instance, make_instance, post_dicom, short  # noqa: F401
from fhir_http import Fhir



class Server:
    """Small conveniences over the FHIR client for these tests."""

    def __init__(self, fhir: Fhir):
        self.fhir = fhir
        self.base = fhir.base

    @property
    def http(self):
        return self.fhir.http

    def upload(self, inst: Instance, expect: tuple[int, ...] = (201,), **headers):
        r = post_dicom(self.http, self.base, inst.data, headers)
        assert r.status_code in expect, f"upload of {inst.sop}: {short(r)}"
        return r

    def study(self, uid: str):
        return self.fhir.get(f"ImagingStudy/{uid}")

    def read_study(self, uid: str) -> dict:
        r = self.study(uid)
        assert r.status_code == 200, f"GET ImagingStudy/{uid}: {short(r)}"
        return r.json()

    def binary_bytes(self, sha: str):
        return self.fhir.get(f"Binary/{sha}", accept="application/dicom")

    def wado_instance(self, inst: Instance):
        return self.fhir.get(f"dicomweb/studies/{inst.study}/series/{inst.series}/instances/{inst.sop}",
                             accept="application/dicom")


@pytest.fixture(scope="session")
def server(fhir) -> Server:
    return Server(fhir)


def pytest_configure(config):
    if getattr(config.option, "tbstyle", "auto") == "auto":
        config.option.tbstyle = "short"
