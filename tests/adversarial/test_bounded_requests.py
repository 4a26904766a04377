"""Bounded requests: an upload larger than dicomfhir.max-upload-bytes (scripts/adversarial.sh
starts the server with 1 MiB) is answered 413 with a message, without the server reading the whole
body, with a Content-Length and with chunked transfer encoding; the server keeps answering.

The client is a raw socket (adv_util.raw_stream) so that it can watch for the answer while it
sends: it sends 2 MiB of a 5 MiB body, then waits up to PAUSE seconds for an answer; only if none
comes does it send the rest. A server that reads the whole body before answering therefore
answers "late"."""

from __future__ import annotations

import io
import json

import pydicom
import pytest

from adv_util import MAX_UPLOAD_BYTES, RawAnswer, make_instance, post_dicom, raw_stream, short, template_bytes, zero_pieces

MiB = 1024 * 1024
TOTAL = 5 * MiB
FIRST = 2 * MiB
PAUSE = 15.0
HEADERS = {"Content-Type": "application/dicom", "Accept": "application/fhir+json"}


def body():
    return zero_pieces(TOTAL, prefix=template_bytes("CT_small.dcm"), piece=64 * 1024)


def assert_limited(fhir, answer: RawAnswer, what: str):
    assert answer.status == 413, f"{what}: expected 413: {answer.describe()}"
    assert answer.sent_before_answer is not None and answer.sent_before_answer < TOTAL, \
        f"{what}: 413 only after the whole body was sent: {answer.describe()}"
    text = answer.body.decode("utf-8", "replace").strip()
    assert text, f"{what}: 413 without a message: {answer.describe()}"
    if text.startswith("{"):
        outcome = json.loads(text)
        assert outcome.get("resourceType") == "OperationOutcome", f"{what}: JSON body is not an OperationOutcome: {text[:400]}"
        assert any((i.get("diagnostics") or "").strip() for i in outcome.get("issue", [])), f"{what}: no diagnostics: {text[:400]}"
    r = fhir.get("metadata")
    assert r.status_code == 200, f"after {what}: /metadata {r.status_code}"


def test_oversized_upload_with_content_length_is_refused_early(fhir, base_url):
    answer = raw_stream(base_url, "Binary", HEADERS, body(), TOTAL, pause_after=FIRST, pause_seconds=PAUSE)
    assert_limited(fhir, answer, "5 MiB POST /Binary with Content-Length")


def test_oversized_chunked_upload_is_refused_early(fhir, base_url):
    answer = raw_stream(base_url, "Binary", HEADERS, body(), None, pause_after=FIRST, pause_seconds=PAUSE)
    assert_limited(fhir, answer, "5 MiB chunked POST /Binary")


def test_oversized_upload_with_requests_generator(fhir, base_url):
    """The same with an ordinary client streaming a generator (chunked, no Content-Length)."""
    try:
        r = fhir.http.post(f"{base_url}/Binary", data=body(), timeout=120, headers=HEADERS)
        status, text = r.status_code, r.text
    except Exception as e:  # a reset while sending: the client never saw an answer
        pytest.fail(f"chunked 5 MiB POST /Binary with requests: no HTTP answer: {e!r}")
    assert status == 413, f"chunked 5 MiB POST /Binary with requests: HTTP {status} {text[:400]!r}"
    assert fhir.get("metadata").status_code == 200


def test_upload_under_the_limit_is_stored(server):
    """An instance of ~900 KiB (under the 1 MiB limit) is still stored."""
    inst = make_instance(PatientID="BOUNDED1")
    ds = pydicom.dcmread(io.BytesIO(inst.data))
    ds.add_new(0x00090010, "LO", "ADVERSARIAL")
    ds.add_new(0x00091001, "OB", bytes(MAX_UPLOAD_BYTES - len(inst.data) - 150 * 1024))
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    assert len(data) < MAX_UPLOAD_BYTES
    r = post_dicom(server.http, server.base, data)
    assert r.status_code == 201, f"{len(data)}-byte upload (limit {MAX_UPLOAD_BYTES}): {short(r)}"
