"""The `dicom-fhir` CLI without a real server: inspect, and the clear errors for an unreachable
URL, a URL that is not FHIR, a FHIR server without the plugin, and 401."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def fake_server(handler_body):
    """A loopback HTTP server answering every GET with handler_body(path) -> (status, dict|str)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = handler_body(self.path, self.headers)
            data = (json.dumps(body) if isinstance(body, dict) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json" if isinstance(body, dict) else "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/fhir"


CAPABILITY = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}


def test_inspect_human_and_json(run_cli, ct_small):
    import hashlib

    r = run_cli("inspect", ct_small)
    assert r.returncode == 0, r.stderr
    sha = hashlib.sha256(ct_small.read_bytes()).hexdigest()
    assert sha in r.stdout and "ImagingStudy" in r.stdout and "Patient" in r.stdout
    r = run_cli("inspect", ct_small, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["valid"] and out["sha256"] == sha
    assert out["imagingStudy"]["resourceType"] == "ImagingStudy"
    assert out["dicomJson"]["0020000D"]["Value"] == [out["studyInstanceUid"]]


def test_inspect_not_dicom(run_cli, tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("not an image")
    r = run_cli("inspect", p)
    assert r.returncode == 1 and "not valid DICOM" in r.stdout
    r = run_cli("inspect", p, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["valid"] is False


def test_unreachable(run_cli, ct_small):
    r = run_cli("upload", ct_small, "--server", "http://127.0.0.1:9/fhir", "--timeout", "5")
    assert r.returncode == 2
    assert "server unreachable" in r.stderr


def test_not_fhir(run_cli, ct_small):
    server, url = fake_server(lambda path, h: (200, "<html>hello</html>"))
    try:
        r = run_cli("upload", ct_small, "--server", url)
    finally:
        server.shutdown()
    assert r.returncode == 2
    assert "not a FHIR server" in r.stderr


def test_plugin_missing(run_cli, ct_small):
    def answer(path, headers):
        if path.startswith("/fhir/metadata"):
            return 200, CAPABILITY
        return 200, {"resourceType": "Bundle", "type": "searchset", "total": 0}

    server, url = fake_server(answer)
    try:
        r = run_cli("verify", "--server", url)
    finally:
        server.shutdown()
    assert r.returncode == 2
    assert "plugin not installed" in r.stderr


def test_unauthorized_and_token(run_cli, ct_small):
    seen = []

    def answer(path, headers):
        seen.append(headers.get("Authorization"))
        return 401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login",
                                                                      "diagnostics": "token expired"}]}

    server, url = fake_server(answer)
    try:
        r = run_cli("upload", ct_small, "--server", url, env={"DICOMFHIR_TOKEN": "s3cret"})
    finally:
        server.shutdown()
    assert r.returncode == 2
    assert "401" in r.stderr and "--token" in r.stderr and "token expired" in r.stderr
    assert seen and seen[0] == "Bearer s3cret"
