"""Helpers of the adversarial tests (tests/adversarial) and of scripts/crash-test.sh's driver:
STOW-RS requests and readers of the plugin's ImagingStudy entries; fresh DICOM instances come from
tests/dicom_instances.py (re-exported here). No pytest here, so crash_driver.py can import it too."""

from __future__ import annotations

import io
import json
import os
import sys
import uuid
from dataclasses import dataclass

import requests

# tests/ (pytest puts it on sys.path through tests/conftest.py; the standalone drivers do not).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dicom_instances import Instance, data_dir, make_instance, template_bytes  # noqa: E402,F401

FHIR_JSON = "application/fhir+json"
DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
INSTANCE_BINARY = "http://dicomfhir.org/fhir/StructureDefinition/instance-binary"
PATIENT_SYSTEM = "urn:dicom:patient-id"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
FAILURE_REASON = "00081197"
SOP_INSTANCE_UID_TAG = "00081155"
# The upload limit scripts/adversarial.sh starts the server with (bytes).
MAX_UPLOAD_BYTES = int(os.environ.get("DICOMFHIR_MAX_UPLOAD_BYTES", str(1024 * 1024)))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def post_dicom(http: requests.Session, base: str, data: bytes, headers: dict | None = None,
               timeout: float = 300) -> requests.Response:
    h = {"Content-Type": DICOM, "Accept": FHIR_JSON}
    h.update(headers or {})
    return http.post(f"{base}/Binary", data=data, headers=h, timeout=timeout)


def multipart_related(parts: list[bytes], boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart/related body of application/dicom parts and its Content-Type."""
    boundary = boundary or f"adv-{uuid.uuid4().hex}"
    body = io.BytesIO()
    for part in parts:
        body.write(f"--{boundary}\r\nContent-Type: {DICOM}\r\n\r\n".encode())
        body.write(part)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f'multipart/related; type="{DICOM}"; boundary={boundary}'


def stow(http: requests.Session, base: str, parts: list[bytes], study: str | None = None,
         headers: dict | None = None, timeout: float = 300) -> requests.Response:
    body, content_type = multipart_related(parts)
    h = {"Content-Type": content_type, "Accept": DICOM_JSON}
    h.update(headers or {})
    url = f"{base}/dicomweb/studies" + (f"/{study}" if study else "")
    return http.post(url, data=body, headers=h, timeout=timeout)


def dicom_json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    if isinstance(body, list):
        body = body[0] if body else {}
    return body if isinstance(body, dict) else {}


def failure_reasons(stow_response: requests.Response) -> list[int]:
    """FailureReason (0008,1197) of every FailedSOPSequence (0008,1198) item of a STOW-RS answer."""
    items = (dicom_json(stow_response).get(FAILED_SOP_SEQUENCE) or {}).get("Value") or []
    out = []
    for item in items:
        value = (item.get(FAILURE_REASON) or {}).get("Value") or [None]
        out.append(value[0])
    return out


def binary_refs(imaging_study: dict) -> list[tuple[str, str | None]]:
    """(SOP Instance UID, 'Binary/<sha256>' or None) of every instance entry, in order."""
    out = []
    for series in imaging_study.get("series", []) or []:
        for instance in series.get("instance", []) or []:
            ref = None
            for ext in instance.get("extension", []) or []:
                if ext.get("url") == INSTANCE_BINARY:
                    ref = (ext.get("valueReference") or {}).get("reference")
            out.append((instance.get("uid"), ref))
    return out


def ref_id(reference: str | None) -> str | None:
    """'Binary/abc' or 'http://x/fhir/Binary/abc/_history/1' -> 'abc'."""
    if not reference:
        return None
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[:parts.index("_history")]
    return parts[-1]


def outcome_text(response: requests.Response) -> str:
    """Every diagnostics/details text of an OperationOutcome answer (or the raw body)."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    texts = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("diagnostics", "text") and isinstance(v, str):
                    texts.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(body)
    return "\n".join(texts) if texts else response.text


def is_operation_outcome(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"


def short(response: requests.Response, n: int = 600) -> str:
    return f"HTTP {response.status_code} {response.text[:n]!r}"


def status_parameters(http: requests.Session, base: str) -> tuple[int, dict]:
    """GET $dicom-status: (HTTP status, {parameter name: value})."""
    r = http.get(f"{base}/$dicom-status", headers={"Accept": FHIR_JSON}, timeout=60)
    values = {}
    if r.status_code == 200:
        try:
            body = r.json()
        except ValueError:
            body = {}
        for p in body.get("parameter", []) or []:
            value = next((v for k, v in p.items() if k.startswith("value")), None)
            values[p.get("name")] = value
    return r.status_code, values


def dumps(x) -> str:
    return json.dumps(x)[:800]


# --- A raw HTTP/1.1 client that streams a large body and watches for an early answer -------------

@dataclass
class RawAnswer:
    status: int | None = None
    head: str = ""
    body: bytes = b""
    total: int | None = None                 # declared body length (None: chunked)
    sent: int = 0                            # body bytes sent
    sent_before_answer: int | None = None    # body bytes sent when the answer became readable
    seconds_to_answer: float | None = None
    errors: list = None

    def describe(self) -> str:
        return (f"status {self.status}, answer readable after {self.sent_before_answer} body bytes "
                f"(sent {self.sent} of {self.total if self.total is not None else 'chunked'}) in "
                f"{self.seconds_to_answer if self.seconds_to_answer is None else round(self.seconds_to_answer, 2)} s, "
                f"errors {self.errors}, head {self.head[:300]!r}, body {self.body[:400]!r}")


def _read_answer(sock, answer: RawAnswer, timeout: float) -> None:
    import socket
    import time
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError) as e:
            answer.errors.append(f"recv: {e!r}")
            break
        except socket.timeout:
            answer.errors.append("recv: timeout")
            break
        if not chunk:
            break
        buf += chunk
        if b"\r\n\r\n" in buf:
            head, _, rest = buf.partition(b"\r\n\r\n")
            lower = head.lower()
            if b"content-length:" in lower:
                n = int(lower.split(b"content-length:")[1].split(b"\r\n")[0].strip())
                if len(rest) >= n:
                    break
            elif b"transfer-encoding: chunked" in lower and rest.endswith(b"0\r\n\r\n"):
                break
    head, _, rest = buf.partition(b"\r\n\r\n")
    answer.head = head.decode("latin-1")
    if answer.head.startswith("HTTP/"):
        answer.status = int(answer.head.split()[1])
    if "transfer-encoding: chunked" in answer.head.lower():
        out, data = b"", rest
        while data:
            size_line, _, data = data.partition(b"\r\n")
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if size == 0:
                break
            out += data[:size]
            data = data[size + 2:]
        rest = out
    answer.body = rest


def raw_stream(base: str, path: str, headers: dict, pieces, total: int | None, pause_after: int | None = None,
               pause_seconds: float = 0.0, answer_timeout: float = 120.0) -> RawAnswer:
    """POST base/path with the body from `pieces` (an iterable of bytes), with Content-Length
    `total`, or chunked when total is None. Before each piece it checks whether the server has
    answered; if so it stops sending. After `pause_after` body bytes it waits up to
    `pause_seconds` for an answer before going on. Then it reads the answer."""
    import select
    import socket
    import time
    from urllib.parse import urlparse

    url = urlparse(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=60)
    answer = RawAnswer(total=total, errors=[])
    lines = [f"POST {url.path}/{path.lstrip('/')} HTTP/1.1", f"Host: {url.hostname}:{url.port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Transfer-Encoding: chunked" if total is None else f"Content-Length: {total}")
    lines.append("Connection: close")
    t0 = time.monotonic()

    def readable(timeout: float) -> bool:
        return bool(select.select([sock], [], [], timeout)[0])

    def answered() -> None:
        answer.sent_before_answer = answer.sent
        answer.seconds_to_answer = time.monotonic() - t0

    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        paused = False
        for piece in pieces:
            if readable(0):
                answered()
                break
            if pause_after is not None and not paused and answer.sent >= pause_after:
                paused = True
                if readable(pause_seconds):
                    answered()
                    break
            sock.sendall((b"%x\r\n" % len(piece) + piece + b"\r\n") if total is None else piece)
            answer.sent += len(piece)
        else:
            if total is None:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError) as e:
        answer.errors.append(f"send: {e!r}")
        if answer.sent_before_answer is None:
            answered()
    try:
        sock.setblocking(True)
        _read_answer(sock, answer, answer_timeout)
        if answer.seconds_to_answer is None and answer.status is not None:
            answer.seconds_to_answer = time.monotonic() - t0
    finally:
        sock.close()
    return answer


def zero_pieces(total: int, prefix: bytes = b"", piece: int = 256 * 1024):
    """`prefix` then zeros, `total` bytes in all, without holding more than one piece."""
    if prefix:
        yield prefix
    left = total - len(prefix)
    zero = bytes(piece)
    while left > 0:
        n = min(piece, left)
        yield zero if n == piece else zero[:n]
        left -= n


def summary(test: str, lines: list[str], failed: bool) -> int:
    """Prints the closing summary of a standalone driver (crash_driver.py, memory_driver.py) and
    returns its exit status: 1 when it failed."""
    print(f"{test} summary:")
    for line in lines:
        print(f"  {line}")
    print(f"{test}: FAILED" if failed else f"{test}: PASSED", flush=True)
    return 1 if failed else 0
