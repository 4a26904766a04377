"""Loopback stand-ins for a FHIR server and an OAuth token endpoint, for the tests of client
behaviour that a real server does not show on demand (a refusal, a slow answer, a TLS proxy):
tests/python's offline CLI, connection and SMART tests, tests/dimse's listener tests. A request
handler base that answers JSON (or an HTML page) and keeps quiet, what a server with the plugin
answers to the clients' checks and to a stored Binary, and the start of a server on a daemon
thread. Everything else runs against the example server (server_harness.py)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CAPABILITY = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}


def outcome(code: str, text: str) -> dict:
    """An OperationOutcome with one error issue."""
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


class AnsweringHandler(BaseHTTPRequestHandler):
    """A handler whose do_* methods answer with `answer`; no request log on stderr."""

    # The media type of a dict answer (an IdP's handler sets application/json).
    json_type = "application/fhir+json"

    def answer(self, status: int, body: dict | str, headers=()):
        """A dict as JSON (`json_type`), a str as an HTML page (what a server without FHIR sends)."""
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", self.json_type if isinstance(body, dict) else "text/html")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        """The request's body (Content-Length bytes)."""
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer_plugin_get(self):
        """A GET to a FHIR server with the plugin, as far as the clients look: /metadata, and
        searches (one match for the plugin's StructureDefinition, none for anything else)."""
        if self.path.startswith("/fhir/metadata"):
            return self.answer(200, CAPABILITY)
        total = 1 if self.path.startswith("/fhir/StructureDefinition") else 0
        return self.answer(200, {"resourceType": "Bundle", "type": "searchset", "total": total})

    def answer_stored(self, body: bytes, root: str = "http://127.0.0.1"):
        """POST Binary answered as the plugin stores it: 201, the id is the SHA-256 of the bytes."""
        sha = hashlib.sha256(body).hexdigest()
        return self.answer(201, {"resourceType": "Binary", "id": sha},
                           [("Location", f"{root}/fhir/Binary/{sha}/_history/1")])

    def log_message(self, *args):
        pass


def serve(server: ThreadingHTTPServer) -> ThreadingHTTPServer:
    """Serves on a daemon thread (the test calls server.shutdown())."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def loopback(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    """A server on 127.0.0.1 and a free port, serving; and its FHIR base URL (/fhir)."""
    server = serve(ThreadingHTTPServer(("127.0.0.1", 0), handler))
    return server, f"http://127.0.0.1:{server.server_address[1]}/fhir"
