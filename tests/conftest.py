"""Fixtures shared by tests/e2e and tests/python: the running server (DICOMFHIR_BASE_URL, set by
scripts/e2e.sh) and a FHIR client for it. pytest puts this folder on sys.path, so both suites
import `fhir_http` directly."""

from __future__ import annotations

import os

import pytest

from fhir_http import Fhir


@pytest.fixture(scope="session")
def base_url() -> str:
    base = os.environ.get("DICOMFHIR_BASE_URL")
    if not base:
        pytest.fail("DICOMFHIR_BASE_URL is not set: no running server to test against (scripts/e2e.sh sets it)")
    return base.rstrip("/")


@pytest.fixture(scope="session")
def fhir(base_url) -> Fhir:
    client = Fhir(base_url)
    response = client.get("metadata")
    assert response.status_code == 200, f"{base_url}/metadata: {response.status_code}"
    return client
