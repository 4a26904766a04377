"""Fixtures of the end-to-end tests: a FHIR client for the running server (DICOMFHIR_BASE_URL),
the test corpus (DICOMFHIR_DATA) with its expected outcomes, and the corpus uploaded once."""

from __future__ import annotations

import functools
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

import dicom_expect as dx
from fhir_http import DICOM, FHIR_JSON  # noqa: F401 (the tests import them from here)

UPLOAD_THREADS = int(os.environ.get("DICOMFHIR_E2E_THREADS", "4"))


def data_dir() -> Path:
    return Path(os.environ.get("DICOMFHIR_DATA", str(Path(__file__).resolve().parents[2] / ".data")))


@functools.lru_cache(maxsize=1)
def corpus() -> dx.Corpus:
    """The corpus and its expected outcomes (computed once, also at collection time)."""
    return dx.load_corpus(data_dir())


def pytest_generate_tests(metafunc):
    """Per-file and per-study parametrization, so every file and every study is its own test."""
    have_data = any((data_dir() / d).is_dir() for d in dx.CORPUS_DIRS)
    if "corpus_file" in metafunc.fixturenames:
        names = [u.instance.relpath for u in corpus().uploads] if have_data else []
        metafunc.parametrize("corpus_file", names or [None], ids=names or ["no-corpus"])
    if "study_uid" in metafunc.fixturenames:
        uids = sorted(corpus().studies) if have_data else []
        metafunc.parametrize("study_uid", uids or [None], ids=uids or ["no-corpus"])


@dataclass
class Result:
    """What the server answered to one upload."""

    status: int
    location_id: str | None
    location: str | None
    body: dict | None
    text: str

    def describe(self) -> str:
        return f"HTTP {self.status}, Location {self.location!r}, body {self.text[:600]!r}"


LOCATION_ID = re.compile(r"/Binary/([^/?]+)(?:/_history/([^/?]+))?")


def to_result(response: requests.Response) -> Result:
    location = response.headers.get("Location") or response.headers.get("Content-Location")
    match = LOCATION_ID.search(location or "")
    body = None
    try:
        if response.content:
            body = response.json()
    except ValueError:
        pass
    return Result(response.status_code, match.group(1) if match else None, location, body, response.text[:2000])


def operation_outcome_problem(result: Result) -> str | None:
    """None when the body is an OperationOutcome with at least one issue carrying diagnostics."""
    body = result.body
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return f"body is not an OperationOutcome: {result.text[:300]!r}"
    if not any((issue.get("diagnostics") or "").strip() for issue in body.get("issue", [])):
        return f"OperationOutcome without diagnostics: {result.text[:300]!r}"
    return None


@pytest.fixture(scope="session")
def expected() -> dx.Corpus:
    if not any((data_dir() / d).is_dir() for d in dx.CORPUS_DIRS):
        pytest.fail(f"no test corpus in {data_dir()}: run scripts/fetch-test-data.sh")
    return corpus()


@pytest.fixture(scope="module")
def uploaded(fhir, expected) -> dict[str, Result]:
    """Uploads every file of the corpus once: relative path -> server answer. Files that share
    bytes or a SOP Instance UID go one after the other in corpus order; the rest in parallel."""
    results: dict[str, Result] = {}

    def run(group: list[dx.Upload]) -> None:
        for upload in group:
            results[upload.instance.relpath] = to_result(fhir.post_dicom(upload.instance.data))

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for future in [pool.submit(run, group) for group in dx.upload_groups(expected)]:
            future.result()
    return results


@pytest.fixture(scope="module")
def studies(fhir, expected, uploaded) -> dict[str, requests.Response]:
    """GET ImagingStudy/<uid> of every expected study, right after the corpus upload."""
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        responses = list(pool.map(lambda uid: fhir.get(f"ImagingStudy/{uid}"), sorted(expected.studies)))
    return dict(zip(sorted(expected.studies), responses))


def pytest_configure(config):
    # The fixtures hold the whole corpus: keep their reprs out of failure reports.
    if getattr(config.option, "tbstyle", "auto") == "auto":
        config.option.tbstyle = "short"
