"""A stored DICOM instance is immutable: every FHIR way of changing the bytes or the content type
of Binary/<sha256> (PUT raw, PUT FHIR JSON with other DICOM bytes or another contentType, JSON
Patch, a transaction entry, a conditional update) is refused with 409 and a message telling the
caller to send a new SOP Instance UID; the bytes stay those of the upload, through FHIR and
WADO-RS. Deleting the Binary still works."""

from __future__ import annotations

import base64
import hashlib

import pytest

from adv_util import FHIR_JSON, binary_refs, make_instance, outcome_text, short

MESSAGE = "new sop instance uid"


@pytest.fixture
def stored(server):
    inst = make_instance(PatientID="IMMUTABLE1", InstanceNumber=1)
    server.upload(inst)
    return inst


def assert_refused(r, what):
    assert r.status_code == 409, f"{what}: expected 409, got {short(r)}"
    text = outcome_text(r)
    assert MESSAGE in text.lower(), f"{what}: 409 without a hint to use a new SOP Instance UID: {text[:600]!r}"


def assert_unchanged(server, inst, what):
    r = server.binary_bytes(inst.sha256)
    assert r.status_code == 200, f"after {what}: GET Binary/{inst.sha256}: {short(r, 200)}"
    assert r.content == inst.data, (
        f"after {what}: GET Binary/{inst.sha256} (Accept application/dicom) returns {len(r.content)} bytes "
        f"(sha256 {hashlib.sha256(r.content).hexdigest()}, Content-Type {r.headers.get('Content-Type')}, "
        f"starts {r.content[:40]!r}), not the {len(inst.data)} bytes uploaded")
    w = server.wado_instance(inst)
    assert w.status_code == 200, f"after {what}: WADO-RS of {inst.sop}: {short(w, 200)}"
    assert w.content == inst.data, (
        f"after {what}: WADO-RS of {inst.sop} returns {len(w.content)} bytes starting {w.content[:40]!r}, "
        f"not the original")
    listed = [ref for sop, ref in binary_refs(server.read_study(inst.study)) if sop == inst.sop]
    assert listed == [f"Binary/{inst.sha256}"], f"after {what}: study lists {inst.sop} as {listed}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_put_raw_text_plain(server, stored):
    r = server.fhir.request("PUT", f"Binary/{stored.sha256}", data=b"pwned",
                            headers={"Content-Type": "text/plain", "Accept": FHIR_JSON})
    assert_refused(r, "PUT Binary text/plain")
    assert_unchanged(server, stored, "PUT Binary text/plain")


@pytest.mark.parametrize("variant", ["same-sop-other-bytes", "other-instance"])
def test_put_fhir_json_other_dicom_bytes(server, stored, variant):
    if variant == "same-sop-other-bytes":
        other = make_instance(stored.study, stored.series, stored.sop, PatientID="IMMUTABLE1", InstanceNumber=2)
    else:
        other = make_instance(PatientID="IMMUTABLE1")
    resource = {"resourceType": "Binary", "id": stored.sha256, "contentType": "application/dicom",
                "data": b64(other.data)}
    r = server.fhir.put(f"Binary/{stored.sha256}", resource, Accept=FHIR_JSON)
    assert_refused(r, f"PUT FHIR JSON Binary with other DICOM bytes ({variant})")
    assert_unchanged(server, stored, f"PUT FHIR JSON Binary with other DICOM bytes ({variant})")


def test_put_fhir_json_text_plain_same_data(server, stored):
    resource = {"resourceType": "Binary", "id": stored.sha256, "contentType": "text/plain",
                "data": b64(stored.data)}
    r = server.fhir.put(f"Binary/{stored.sha256}", resource, Accept=FHIR_JSON)
    assert_refused(r, "PUT FHIR JSON Binary contentType text/plain")
    assert_unchanged(server, stored, "PUT FHIR JSON Binary contentType text/plain")
    meta = server.fhir.get(f"Binary/{stored.sha256}")
    assert meta.status_code == 200 and meta.json().get("contentType") == "application/dicom", short(meta, 300)


def test_json_patch_content_type(server, stored):
    patch = [{"op": "replace", "path": "/contentType", "value": "text/plain"}]
    r = server.fhir.request("PATCH", f"Binary/{stored.sha256}", json=patch,
                            headers={"Content-Type": "application/json-patch+json", "Accept": FHIR_JSON})
    assert_refused(r, "JSON Patch of /contentType")
    assert_unchanged(server, stored, "JSON Patch of /contentType")
    meta = server.fhir.get(f"Binary/{stored.sha256}")
    assert meta.status_code == 200 and meta.json().get("contentType") == "application/dicom", short(meta, 300)


def test_transaction_put_entry(server, stored):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "fullUrl": f"Binary/{stored.sha256}",
        "resource": {"resourceType": "Binary", "id": stored.sha256, "contentType": "text/plain", "data": b64(b"pwned")},
        "request": {"method": "PUT", "url": f"Binary/{stored.sha256}"},
    }]}
    r = server.fhir.post_json(server.base, bundle)
    if r.status_code == 200:
        entries = r.json().get("entry", [])
        statuses = [e.get("response", {}).get("status", "") for e in entries]
        assert statuses and statuses[0].startswith("409"), f"transaction answered 200 with entry statuses {statuses}: {short(r)}"
        assert MESSAGE in r.text.lower(), f"transaction entry refused without a new-SOP-UID hint: {short(r)}"
    else:
        assert_refused(r, "transaction PUT Binary/<sha> text/plain")
    assert_unchanged(server, stored, "transaction PUT Binary/<sha> text/plain")


def test_conditional_update(server, stored):
    r = server.fhir.request("PUT", f"Binary?_id={stored.sha256}", data=b"pwned",
                            headers={"Content-Type": "text/plain", "Accept": FHIR_JSON})
    assert_refused(r, "conditional PUT Binary?_id=<sha> text/plain")
    assert_unchanged(server, stored, "conditional PUT Binary?_id=<sha> text/plain")


def test_delete_still_works(server, stored):
    r = server.fhir.request("DELETE", f"Binary/{stored.sha256}", headers={"Accept": FHIR_JSON})
    assert r.status_code in (200, 204), f"DELETE Binary/{stored.sha256}: {short(r)}"
    gone = server.fhir.get(f"Binary/{stored.sha256}")
    assert gone.status_code in (404, 410), f"after DELETE: GET Binary/{stored.sha256}: {short(gone, 200)}"


def test_fhir_json_dicom_binary_without_bytes_is_refused(server):
    """A DICOM Binary in FHIR JSON that carries no data: a 4xx, never a 500, and nothing stored."""
    body = {"resourceType": "Binary", "contentType": "application/dicom"}
    r = server.fhir.request("POST", "Binary", json=body, headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON})
    assert 400 <= r.status_code < 500, f"POST Binary application/dicom without data: {short(r)}"


def test_new_content_address_with_other_bytes_is_refused(server):
    """A Binary id of 64 hex digits is a content address whatever the content type: text/plain
    bytes whose SHA-256 is not the id are refused (400), and nothing is stored under that id."""
    fake = hashlib.sha256(b"something else").hexdigest()
    r = server.fhir.request("PUT", f"Binary/{fake}", data=b"pwned",
                            headers={"Content-Type": "text/plain", "Accept": FHIR_JSON})
    assert r.status_code == 400, f"PUT Binary/{fake} text/plain with other bytes: {short(r)}"
    g = server.fhir.request("GET", f"Binary/{fake}", headers={"Accept": FHIR_JSON})
    assert g.status_code in (404, 410), f"after the refused PUT, GET Binary/{fake}: {short(g)}"
