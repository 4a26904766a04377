"""Operator status: GET $dicom-status answers a FHIR Parameters resource with `pending` and `failed`
(valueInteger); once the server is quiet and everything is indexed, both are 0. (Runs last of the
suite, after every other test file has uploaded, refused and deleted.)"""

from __future__ import annotations

import time

from adv_util import FHIR_JSON, make_instance, short


def get_status(fhir):
    r = fhir.get("$dicom-status")
    assert r.status_code == 200, f"GET $dicom-status: {short(r)}"
    body = r.json()
    assert body.get("resourceType") == "Parameters", f"$dicom-status is not a Parameters resource: {short(r)}"
    params = {p.get("name"): p for p in body.get("parameter", [])}
    for name in ("pending", "failed"):
        assert name in params, f"$dicom-status has no parameter {name!r}: {short(r)}"
        assert isinstance(params[name].get("valueInteger"), int), f"$dicom-status {name} is not a valueInteger: {params[name]}"
    return {name: p.get("valueInteger") for name, p in params.items()}


def test_dicom_status_is_a_parameters_resource(fhir):
    get_status(fhir)


def test_dicom_status_settles_to_zero(fhir, server):
    server.upload(make_instance(PatientID="STATUS1"))
    deadline = time.monotonic() + 60
    status = get_status(fhir)
    while status["pending"] != 0 and time.monotonic() < deadline:
        time.sleep(0.5)  # polling a condition with a deadline
        status = get_status(fhir)
    assert status["pending"] == 0, f"$dicom-status still pending after 60 s: {status}"
    assert status["failed"] == 0, f"$dicom-status reports failures on a quiet server: {status}"
