"""Patient identity: a PatientID is matched as one exact value, never as a FHIR search expression.
Hostile PatientIDs (a comma, a pipe, a backslash, wildcards, a %-escape, a leading $, non-ASCII,
64 characters, empty) each get a Patient whose identifier is that exact value, never the victim's
Patient. A study belongs to one patient: an instance of a known study with another PatientID (or
issuer) is refused with 409, by FHIR and by STOW-RS (FailureReason 0xC409). Two FHIR Patients with
the identifier of an upload make it ambiguous: 409 naming both, nothing listed. The first instances
of a new study naming two patients, sent at the same moment, end with one acknowledged."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pydicom
import pytest
import requests

from adv_util import (PATIENT_SYSTEM, binary_refs, failure_reasons, make_instance, outcome_text,
                      post_dicom, short, stow, unique)

VICTIM = "VICTIM1"
HOSTILE = {
    "comma-list": "NONE,VICTIM1",
    "pipe-suffix": "VICTIM1|x",
    "pipe-prefix": "x|VICTIM1",
    "dollar": "$VICTIM1",
    "backslash": "VICTIM1\\x",
    "star": "*",
    "percent-escape": "%56ICTIM1",
    "wildcard-suffix": "VICTIM*",
    "non-ascii": "Müller-ñ",
    "64-chars": "VICTIM1" + "X" * 57,
    "empty": "",
}
STOW_PATIENT_CONFLICT = 50185  # 0xC409


def patient_of(server, study_uid: str) -> tuple[str, dict]:
    study = server.read_study(study_uid)
    ref = (study.get("subject") or {}).get("reference")
    assert ref and ref.startswith("Patient/"), f"ImagingStudy/{study_uid}: subject {study.get('subject')}"
    ref = "/".join(ref.split("/")[:2])
    return ref, server.fhir.read(ref)


@pytest.fixture(scope="module")
def victim(server):
    inst = make_instance(PatientID=VICTIM, PatientName="Victim^Vera")
    server.upload(inst)
    ref, patient = patient_of(server, inst.study)
    return inst, ref, patient


@pytest.fixture(scope="module")
def hostile_uploads(server, victim):
    """Every hostile PatientID uploaded in a study of its own: name -> (instance, response)."""
    out = {}
    for name, pid in HOSTILE.items():
        attrs = {"PatientID": pid, "PatientName": f"Hostile^{name}"}
        if name == "non-ascii":
            attrs["SpecificCharacterSet"] = "ISO_IR 192"
        inst = make_instance(**attrs)
        out[name] = (inst, post_dicom(server.http, server.base, inst.data))
    return out


def test_victim_patient_has_the_exact_identifier(victim):
    _, ref, patient = victim
    values = [(i.get("system"), i.get("value")) for i in patient.get("identifier", [])]
    assert (PATIENT_SYSTEM, VICTIM) in values, f"{ref}: identifiers {values}"


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_patient_id_gets_its_own_patient(server, victim, hostile_uploads, name):
    pid = HOSTILE[name]
    inst, r = hostile_uploads[name]
    _, victim_ref, _ = victim
    assert r.status_code == 201, f"PatientID {pid!r}: {short(r)}"
    ref, patient = patient_of(server, inst.study)
    values = [i.get("value") for i in patient.get("identifier", [])]
    assert ref != victim_ref, f"PatientID {pid!r}: study {inst.study} was given the victim's {victim_ref} ({values})"
    assert VICTIM not in values, f"PatientID {pid!r}: subject {ref} has the victim's identifier: {values}"
    if pid:
        assert pid in values, f"PatientID {pid!r}: subject {ref} has identifiers {values}, none is the PatientID exactly"


def test_victim_still_has_exactly_one_patient_and_only_its_studies(server, victim, hostile_uploads):
    inst, victim_ref, _ = victim
    patients = server.fhir.search("Patient", {"identifier": f"{PATIENT_SYSTEM}|{VICTIM}"})
    ids = [f"Patient/{p['id']}" for p in patients]
    assert ids == [victim_ref], f"Patient?identifier={PATIENT_SYSTEM}|{VICTIM}: {ids}, expected only {victim_ref}"
    studies = {s["id"] for s in server.fhir.search("ImagingStudy", {"subject": victim_ref})}
    hostile = {i.study: name for name, (i, _) in hostile_uploads.items()}
    wrong = {uid: hostile[uid] for uid in studies if uid in hostile}
    assert inst.study in studies, f"{victim_ref}: studies {studies} lack the victim's {inst.study}"
    assert not wrong, f"{victim_ref} has hostile studies: {wrong}"


def only_instance(server, inst) -> list:
    return binary_refs(server.read_study(inst.study))


def test_second_patient_in_a_study_is_refused(server):
    p1, p2 = unique("P1"), unique("P2")
    first = make_instance(PatientID=p1)
    server.upload(first)
    second = make_instance(first.study, first.series, PatientID=p2, InstanceNumber=2)
    r = post_dicom(server.http, server.base, second.data)
    assert r.status_code == 409, f"instance of study {first.study} with PatientID {p2} (study has {p1}): {short(r)}"
    text = outcome_text(r)
    assert p1 in text and p2 in text, f"409 does not name both identities {p1} and {p2}: {text[:600]!r}"
    listed = only_instance(server, first)
    assert listed == [(first.sop, f"Binary/{first.sha256}")], f"study {first.study} lists {listed}"


def test_second_patient_in_a_study_is_refused_by_stow(server):
    p1, p2 = unique("P1"), unique("P2")
    first = make_instance(PatientID=p1)
    server.upload(first)
    second = make_instance(first.study, first.series, PatientID=p2, InstanceNumber=2)
    r = stow(server.http, server.base, [second.data])
    assert r.status_code == 409, f"STOW-RS of study {first.study} with PatientID {p2} (study has {p1}): {short(r)}"
    reasons = failure_reasons(r)
    assert reasons == [STOW_PATIENT_CONFLICT], f"FailedSOPSequence FailureReasons {reasons}, expected [50185]: {short(r)}"
    listed = only_instance(server, first)
    assert listed == [(first.sop, f"Binary/{first.sha256}")], f"study {first.study} lists {listed}"


def test_other_issuer_of_the_same_patient_id_is_refused(server):
    pid = unique("ISSUED")
    first = make_instance(PatientID=pid, IssuerOfPatientID="HOSP A")
    server.upload(first)
    second = make_instance(first.study, first.series, PatientID=pid, IssuerOfPatientID="HOSP B", InstanceNumber=2)
    r = post_dicom(server.http, server.base, second.data)
    assert r.status_code == 409, f"same PatientID {pid}, IssuerOfPatientID HOSP B in a study of HOSP A: {short(r)}"
    listed = only_instance(server, first)
    assert listed == [(first.sop, f"Binary/{first.sha256}")], f"study {first.study} lists {listed}"


def test_two_fhir_patients_with_the_identifier_make_the_upload_ambiguous(server):
    pid = unique("DUP")
    ids = []
    for name in ("One", "Two"):
        r = server.fhir.post_json("Patient", {"resourceType": "Patient", "name": [{"family": f"Dup{name}"}],
                                             "identifier": [{"system": PATIENT_SYSTEM, "value": pid}]})
        assert r.status_code == 201, f"POST Patient: {short(r)}"
        ids.append(f"Patient/{r.json()['id']}" if r.content else r.headers["Location"].split("/_history")[0].split("/fhir/")[-1])
    inst = make_instance(PatientID=pid)
    r = post_dicom(server.http, server.base, inst.data)
    assert r.status_code == 409, f"upload with PatientID {pid} held by {ids}: {short(r)}"
    text = outcome_text(r)
    assert all(i in text for i in ids), f"409 does not name both {ids}: {text[:600]!r}"
    s = server.study(inst.study)
    assert s.status_code == 404, f"GET ImagingStudy/{inst.study} after the refused upload: {short(s, 400)}"


def test_one_new_study_two_patients_at_the_same_moment(server, base_url):
    """The first instances of a NEW study, naming two patients, sent at the same moment (8 rounds,
    two connections each): exactly one is acknowledged and the other is refused with 409; the study
    lists only the acknowledged instance, filed under its patient. On one node the database decides
    too (the study's claim), not the order in which requests happen to run."""
    problems = []
    for i in range(8):
        a = make_instance(PatientID=unique(f"RACE{i}A"))
        b = make_instance(a.study, a.series, PatientID=unique(f"RACE{i}B"), InstanceNumber=2)
        barrier = threading.Barrier(2)

        def send(inst):
            with requests.Session() as http:
                barrier.wait()
                return post_dicom(http, base_url, inst.data)

        with ThreadPoolExecutor(2) as pool:
            ra, rb = pool.map(send, [a, b])
        codes = sorted([ra.status_code, rb.status_code])
        if codes[0] not in (200, 201) or codes[1] != 409:
            problems.append(f"round {i}: {ra.status_code} {short(ra, 200)} / {rb.status_code} {short(rb, 200)}")
            continue
        winner = a if ra.status_code in (200, 201) else b
        listed = only_instance(server, winner)
        if listed != [(winner.sop, f"Binary/{winner.sha256}")]:
            problems.append(f"round {i}: study {a.study} lists {listed}")
        _, patient = patient_of(server, a.study)
        values = [x.get("value") for x in patient.get("identifier", [])]
        pid = pydicom.dcmread(io.BytesIO(winner.data)).PatientID
        if values != [pid]:
            problems.append(f"round {i}: study {a.study} filed under a Patient with identifiers {values}, not {pid}")
    assert not problems, "\n".join(problems)
