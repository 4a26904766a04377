"""Fixtures shared by the test suites: the running server (DICOMFHIR_BASE_URL, set by
scripts/e2e.sh) and a FHIR client for it, used by tests/e2e and tests/python; and
`example_servers`, for a session that starts its own example server (tests/server_harness.py).
pytest puts this folder on sys.path, so the suites import `fhir_http` and `server_harness` directly.
A missing server is a failure, never a skip."""

from __future__ import annotations

import os

import pytest

from fhir_http import Fhir
from server_harness import ServerPool


@pytest.fixture(scope="session")
def base_url() -> str:
    base = os.environ.get("DICOMFHIR_BASE_URL")
    if not base:
        pytest.fail("DICOMFHIR_BASE_URL is not set: no running server to test against"
                    " (scripts/e2e.sh and scripts/adversarial.sh start one and set it)")
    return base.rstrip("/")


@pytest.fixture(scope="session")
def fhir(base_url) -> Fhir:
    client = Fhir(base_url)
    response = client.get("metadata")
    assert response.status_code == 200, f"{base_url}/metadata: {response.status_code}"
    return client


@pytest.fixture(scope="session")
def example_servers():
    """A ServerPool (throwaway directory `work`, private jar copy): .start(name, *server_args,
    java_opts=[...]) starts an example server, .wait_ready() on it waits for it; all are stopped
    and the directory removed at the end of the session."""
    pool = ServerPool("pytest")
    try:
        yield pool
    finally:
        pool.close()
