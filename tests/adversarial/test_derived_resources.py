"""Resources derived from DICOM are not deleted behind the instances' back: DELETE of an
ImagingStudy with instances is refused (409, telling the caller to delete the instances through
DICOMweb), DELETE of a Patient with studies is refused (409); DICOMweb DELETE of the study removes
the study and its Binaries."""

from __future__ import annotations

import pytest

from adv_util import FHIR_JSON, binary_refs, make_instance, outcome_text, short, unique


@pytest.fixture
def study(server):
    pid = unique("DERIVED")
    first = make_instance(PatientID=pid, InstanceNumber=1)
    second = make_instance(first.study, first.series, PatientID=pid, InstanceNumber=2)
    for inst in (first, second):
        server.upload(inst)
    return [first, second]


def assert_study_intact(server, insts, what):
    uid = insts[0].study
    listed = sorted(binary_refs(server.read_study(uid)))
    want = sorted((i.sop, f"Binary/{i.sha256}") for i in insts)
    assert listed == want, f"after {what}: ImagingStudy/{uid} lists {listed}, expected {want}"
    for inst in insts:
        r = server.binary_bytes(inst.sha256)
        assert r.status_code == 200 and r.content == inst.data, f"after {what}: Binary/{inst.sha256}: {short(r, 200)}"


def test_delete_imaging_study_with_instances_is_refused(server, study):
    uid = study[0].study
    r = server.fhir.request("DELETE", f"ImagingStudy/{uid}", headers={"Accept": FHIR_JSON})
    assert r.status_code == 409, f"DELETE ImagingStudy/{uid}: {short(r)}"
    text = outcome_text(r)
    assert f"/dicomweb/studies/{uid}" in text, f"409 does not say how to delete the instances (DICOMweb DELETE): {text[:600]!r}"
    assert_study_intact(server, study, "DELETE ImagingStudy")


def test_delete_patient_with_studies_is_refused(server, study):
    ref = server.read_study(study[0].study)["subject"]["reference"]
    ref = "/".join(ref.split("/")[:2])
    r = server.fhir.request("DELETE", ref, headers={"Accept": FHIR_JSON})
    assert r.status_code == 409, f"DELETE {ref} (has study {study[0].study}): {short(r)}"
    assert server.fhir.get(ref).status_code == 200, f"{ref} gone after a refused DELETE"
    assert_study_intact(server, study, f"DELETE {ref}")


def test_dicomweb_delete_removes_study_and_binaries(server, study):
    uid = study[0].study
    r = server.fhir.request("DELETE", f"dicomweb/studies/{uid}")
    assert 200 <= r.status_code < 300, f"DICOMweb DELETE studies/{uid}: {short(r)}"
    s = server.study(uid)
    assert s.status_code in (404, 410), f"after DICOMweb DELETE: GET ImagingStudy/{uid}: {short(s, 300)}"
    for inst in study:
        b = server.fhir.get(f"Binary/{inst.sha256}")
        assert b.status_code in (404, 410), f"after DICOMweb DELETE: GET Binary/{inst.sha256}: {short(b, 200)}"
