"""Loopback stand-ins for a FHIR server, shared by the offline CLI tests (test_cli_offline.py,
test_connection.py): a request handler base that answers JSON (or an HTML page) and keeps quiet,
and the start of a server on a daemon thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class AnsweringHandler(BaseHTTPRequestHandler):
    """A handler whose do_* methods answer with `answer`; no request log on stderr."""

    def answer(self, status: int, body: dict | str, headers=()):
        """A dict as FHIR JSON, a str as an HTML page (what a server without FHIR sends)."""
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json" if isinstance(body, dict) else "text/html")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

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
