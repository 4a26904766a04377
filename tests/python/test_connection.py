"""The CLI (and the Python module) reaching the real server through a TLS-terminating reverse
proxy on loopback: a throwaway CA made with `openssl`, `--ca-file`, the bearer token arriving at
the server, and the clear errors users get for an untrusted certificate, https to a plain port,
401/403 and a server whose plugin is hidden."""

from __future__ import annotations

import http.client
import ssl
import subprocess
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fake_http import AnsweringHandler, outcome, serve

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length"}


def openssl(folder: Path, *args: str) -> None:
    r = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr}"


def make_ca(folder: Path, name: str) -> Path:
    openssl(folder, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return folder / f"{name}.pem"


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A CA, a server certificate it signs for 127.0.0.1 only (not for "localhost"), and an
    unrelated second CA."""
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(folder, "test-ca")
    other_ca = make_ca(folder, "other-ca")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                       "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl(folder, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    openssl(folder, "x509", "-req", "-in", "server.csr", "-CA", "test-ca.pem", "-CAkey", "test-ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return {"ca": ca, "other_ca": other_ca, "cert": folder / "server.pem", "key": folder / "server.key"}


class TlsProxy:
    """https://127.0.0.1:<port>/... forwarded to the plain-HTTP test server. Records the
    Authorization header of every request; `mode` makes it answer some requests itself:
    "401" every request, "403-post" every POST, "hide-plugin" the plugin's StructureDefinition
    search (as a FHIR server without the plugin would)."""

    def __init__(self, upstream: str, cert: Path, key: Path):
        self.upstream = urlsplit(upstream)
        self.mode = "forward"
        self.authorization: list[str | None] = []
        self.handshake_errors: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        proxy = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                # the handshake in the request's thread, so a refused one does not stall accept()
                try:
                    request = context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    proxy.handshake_errors.append(str(e))
                    return
                super().finish_request(request, client_address)

        class Handler(AnsweringHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.authorization.append(self.headers.get("Authorization"))
                if proxy.mode == "401":
                    return self.answer(401, outcome("login", "the proxy does not know this token"),
                                       [("WWW-Authenticate", "Bearer")])
                if proxy.mode == "403-post" and self.command == "POST":
                    return self.answer(403, outcome("forbidden", "this token may only read"))
                if proxy.mode == "hide-plugin" and self.path.startswith("/fhir/StructureDefinition"):
                    return self.answer(200, {"resourceType": "Bundle", "type": "searchset", "total": 0})
                self.forward(body)

            def forward(self, body):
                host = self.headers.get("Host")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=300)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    conn.close()
                # The server builds its URLs from Host (kept) and the scheme it saw (http).
                plain, secure = f"http://{host}", f"https://{host}"
                content_type = response.getheader("Content-Type") or ""
                if "json" in content_type:
                    data = data.replace(plain.encode(), secure.encode())
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value.replace(plain, secure))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = handle_any

        self.server = serve(Server(("127.0.0.1", 0), Handler))
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}{self.upstream.path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(base_url, pki):
    p = TlsProxy(base_url, pki["cert"], pki["key"])
    yield p
    p.close()


def test_upload_and_verify_over_tls_with_ca_file_and_token(run_cli, proxy, pki, make_copies, fhir):
    folder, paths, study = make_copies(3)
    r = run_cli("upload", folder, "--server", proxy.url, "--ca-file", pki["ca"], "--token", "tok-123")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stored 3 new" in r.stdout
    # STOW-RS over the same TLS endpoint (its URL is derived from the https base)
    stow_folder, _, _ = make_copies(2, study_uid=study)
    r = run_cli("upload", stow_folder, "--server", proxy.url, "--ca-file", pki["ca"], "--stow",
                env={"DICOMFHIR_TOKEN": "tok-123"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stored 2 new" in r.stdout and "(stow-rs)" in r.stdout
    r = run_cli("verify", "--server", proxy.url, "--ca-file", pki["ca"], "--study", study, "--token", "tok-123")
    assert r.returncode == 0 and "clean" in r.stdout, r.stdout + r.stderr
    assert fhir.read(f"ImagingStudy/{study}")["numberOfInstances"] == 5
    # metadata, plugin check, resume check, 3 POSTs, ..., verify: every one with the token
    assert len(proxy.authorization) > 10
    assert set(proxy.authorization) == {"Bearer tok-123"}


def test_untrusted_certificate_is_a_clear_tls_error(run_cli, proxy, ct_small):
    r = run_cli("upload", ct_small, "--server", proxy.url)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "TLS error" in r.stderr and "certificate" in r.stderr and "--ca-file" in r.stderr, r.stderr
    assert proxy.authorization == [], "no request may pass an untrusted connection"
    # The proxy's thread records the refused handshake; the CLI may exit before it has.
    deadline = time.monotonic() + 10
    while not proxy.handshake_errors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proxy.handshake_errors


def test_ca_file_of_another_ca_is_named_in_the_error(run_cli, proxy, pki):
    r = run_cli("verify", "--server", proxy.url, "--ca-file", pki["other_ca"])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "TLS error" in r.stderr and str(pki["other_ca"]) in r.stderr, r.stderr


def test_certificate_for_another_name(run_cli, proxy, pki):
    other_name = proxy.url.replace("127.0.0.1", "localhost")
    r = run_cli("verify", "--server", other_name, "--ca-file", pki["ca"])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "TLS error" in r.stderr and "does not name the host" in r.stderr, r.stderr


def test_https_to_a_plain_http_port(run_cli, base_url, ct_small):
    r = run_cli("upload", ct_small, "--server", base_url.replace("http://", "https://"), "--timeout", "20")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "TLS error" in r.stderr and "https" in r.stderr, r.stderr


def test_401_names_the_token_options(run_cli, proxy, pki, ct_small):
    proxy.mode = "401"
    r = run_cli("upload", ct_small, "--server", proxy.url, "--ca-file", pki["ca"], "--token", "expired")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "401 Unauthorized" in r.stderr and "--token" in r.stderr, r.stderr
    assert "the proxy does not know this token" in r.stderr


def test_read_only_token_stops_the_upload_with_403(run_cli, proxy, pki, make_copies):
    folder, paths, study = make_copies(2)
    proxy.mode = "403-post"
    r = run_cli("upload", folder, "--server", proxy.url, "--ca-file", pki["ca"], "--token", "reader")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "403 Forbidden" in r.stderr and "not allowed" in r.stderr and "this token may only read" in r.stderr


def test_fhir_server_without_the_plugin(run_cli, proxy, pki, ct_small):
    proxy.mode = "hide-plugin"
    r = run_cli("upload", ct_small, "--server", proxy.url, "--ca-file", pki["ca"])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "plugin not installed" in r.stderr and "instance-binary" in r.stderr, r.stderr


def test_base_url_without_the_fhir_path(run_cli, base_url, ct_small):
    root = base_url.rsplit("/fhir", 1)[0]
    r = run_cli("upload", ct_small, "--server", root)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "not a FHIR server" in r.stderr and "/fhir" in r.stderr, r.stderr


def test_python_module_over_tls(proxy, pki, make_copies):
    import dicom_fhir  # not installed: pip install ./rust/python (scripts/e2e.sh does); a missing module fails

    folder, paths, study = make_copies(2)
    with pytest.raises(dicom_fhir.ServerError) as info:
        dicom_fhir.upload(folder, proxy.url)
    assert info.value.kind == "tls" and "--ca-file" in str(info.value)
    report = dicom_fhir.upload(folder, proxy.url, ca_file=pki["ca"], token="py-token")
    assert report["stored"] == 2
    assert "Bearer py-token" in proxy.authorization
