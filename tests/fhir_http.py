"""The FHIR REST client the end-to-end tests (tests/e2e) and the integrator-tool tests
(tests/python) share (tests/conftest.py makes it the `fhir` fixture), and the per-thread HTTP
session the cluster test and the benchmarks use."""

from __future__ import annotations

import threading

import requests

FHIR_JSON = "application/fhir+json"
DICOM = "application/dicom"
DICOM_TAG = "http://dicomfhir.org/fhir/CodeSystem/tags|dicom"


_local = threading.local()


def thread_session() -> requests.Session:
    """This thread's HTTP session: keep-alive without sharing a session across threads (a
    requests.Session is not thread-safe). Also the benchmark client's (bench/common.py)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


class Fhir:
    """A small FHIR REST client over requests; one HTTP session per thread (thread_session)."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")

    @property
    def http(self) -> requests.Session:
        return thread_session()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 300)
        return self.http.request(method, self.url(path), **kwargs)

    def get(self, path: str, params=None, accept: str = FHIR_JSON) -> requests.Response:
        return self.request("GET", path, params=params, headers={"Accept": accept})

    def read(self, path: str) -> dict:
        response = self.get(path)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:1000]}"
        return response.json()

    def search(self, resource_type: str, params: dict) -> list[dict]:
        """Every resource of a search, following the paging links."""
        params = dict(params)
        params.setdefault("_count", "200")
        response = self.get(resource_type, params=params)
        resources = []
        while True:
            assert response.status_code == 200, f"search {resource_type} {params}: {response.status_code} {response.text[:1000]}"
            bundle = response.json()
            resources += [e["resource"] for e in bundle.get("entry", [])
                          if e.get("resource") and e.get("search", {}).get("mode", "match") == "match"]
            next_link = next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)
            if not next_link:
                return resources
            response = self.get(next_link)

    def post_dicom(self, data: bytes, content_type: str = DICOM, minimal: bool = True) -> requests.Response:
        headers = {"Content-Type": content_type, "Accept": FHIR_JSON}
        if minimal:
            headers["Prefer"] = "return=minimal"
        return self.request("POST", "Binary", data=data, headers=headers)

    def post_json(self, path: str, resource: dict) -> requests.Response:
        return self.request("POST", path, json=resource,
                            headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON})

    def put(self, path: str, resource: dict, **headers) -> requests.Response:
        return self.request("PUT", path, json=resource, headers={"Content-Type": FHIR_JSON, **headers})

    def dicom_count(self) -> int:
        """How many Binaries the plugin has tagged as DICOM."""
        return self.read(f"Binary?_tag={DICOM_TAG}&_summary=count")["total"]

    def version_count(self, path: str) -> int | str:
        """Number of versions in the history of one resource (a text when the server cannot say)."""
        response = self.get(f"{path}/_history", params={"_summary": "count"})
        if response.status_code != 200:
            return f"GET {path}/_history: HTTP {response.status_code}"
        return response.json().get("total")
