"""End-to-end tests of the dicom-fhir plugin: real DICOM files, real HTTP, a running HAPI server.

The expected outcome of every file is computed independently with pydicom (dicom_expect.py); the
server parses with dicom-rs. Tests run in file order: read-only checks of the uploaded corpus first,
then the tests that upload or delete more.
"""

from __future__ import annotations

import base64
import io
import random
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

import dicom_expect as dx
from conftest import DICOM, FHIR_JSON, UPLOAD_THREADS, Result, operation_outcome_problem, to_result


# --------------------------------------------------------------------------------------------
# helpers


def extensions(element: dict, url: str) -> list[dict]:
    return [e for e in element.get("extension", []) if e.get("url") == url]


def ext_value(extension: dict):
    for key, value in extension.items():
        if key.startswith("value"):
            return value
    return None


def local_reference(reference: str | None, base: str) -> str | None:
    """'http://host/fhir/Binary/x/_history/2' -> 'Binary/x'."""
    if reference is None:
        return None
    if reference.startswith(base + "/"):
        reference = reference[len(base) + 1:]
    return re.sub(r"/_history/[^/]+$", "", reference)


def version_id(resource: dict) -> str | None:
    return resource.get("meta", {}).get("versionId")


def human_names(patient: dict) -> list[tuple[str | None, list[str]]]:
    return [(n.get("family"), n.get("given", [])) for n in patient.get("name", [])]


def dataset_bytes(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def synthetic_instance(expected: dx.Corpus, study_uid: str, series_uid: str, sop_uid: str,
                       series_number: int = 1, instance_number: int = 1, remove: tuple = ()) -> bytes:
    """CT_small with new UIDs: a valid instance nobody else has uploaded."""
    ct = expected.by_name("pydicom/CT_small.dcm").instance
    ds = dcmread(io.BytesIO(ct.data))
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.AccessionNumber = "E2E" + sop_uid[-8:]
    for keyword in remove:
        delattr(ds, keyword)
    return dataset_bytes(ds)


def all_instances(study: dict) -> list[tuple[dict, dict]]:
    return [(series, instance) for series in study.get("series", []) for instance in series.get("instance", [])]


# --------------------------------------------------------------------------------------------
# the expectations themselves (no server needed)


def test_uid_rule():
    assert dx.is_valid_uid("1.2.840.10008.1.2.1")
    assert dx.is_valid_uid("0")
    assert dx.is_valid_uid("1.0.2")
    assert not dx.is_valid_uid("")
    assert not dx.is_valid_uid("1..2")
    assert not dx.is_valid_uid("1.2.")
    assert not dx.is_valid_uid(".1.2")
    assert not dx.is_valid_uid("1.02.3")
    assert not dx.is_valid_uid("1.2.a")
    assert not dx.is_valid_uid("1." + "2" * 63)
    assert dx.is_valid_uid("1." + "2" * 62)


@pytest.mark.parametrize("name, outcome", [
    ("pydicom/CT_small.dcm", dx.CREATED),
    ("pydicom/MR_small.dcm", dx.CREATED),
    ("pydicom/MR_small_RLE.dcm", dx.CONFLICT),
    ("pydicom/MR_small_bigendian.dcm", dx.CONFLICT),
    ("pydicom/MR_truncated.dcm", dx.REJECTED),
    ("pydicom/rtplan_truncated.dcm", dx.REJECTED),
    ("pydicom/no_meta.dcm", dx.REJECTED),
    ("pydicom/meta_missing_tsyntax.dcm", dx.REJECTED),
    ("pydicom/ExplVR_BigEndNoMeta.dcm", dx.REJECTED),
    ("pydicom/dicomdirtests/DICOMDIR", dx.REJECTED),
    ("pydicom/README.txt", dx.REJECTED),
    ("pydicom-data/emri_small.dcm", dx.CREATED),
    ("pydicom-data/emri_small_RLE.dcm", dx.CONFLICT),
    ("pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm", dx.REJECTED),
    ("pydicom-data/bad_sequence.dcm", dx.REJECTED),
])
def test_expectation_of_known_files(expected, name, outcome):
    upload = expected.by_name(name)
    assert upload.expected == outcome, f"{name}: {upload.expected} ({upload.note})"


def test_expectation_charset_names(expected):
    h31 = expected.by_name("chrH31.dcm").instance
    assert h31.patient_name == [["Yamada", "Tarou"], ["山田", "太郎"], ["やまだ", "たろう"]]
    assert expected.by_name("chrX1.dcm").instance.patient_name[1] == ["王", "小東"]
    assert expected.by_name("chrX2.dcm").instance.patient_name[1] == ["王", "小东"]
    assert expected.by_name("chrFren.dcm").instance.patient_name == [["Buc", "Jérôme"]]


def test_expectation_summary(expected):
    """Not a check: prints the model, and lists the files pydicom cannot decide on."""
    undecided = [u for u in expected.uploads if u.expected == dx.UNKNOWN]
    print("\ncorpus:", dx.summary(expected))
    for u in undecided:
        print(f"UNDECIDED {u.instance.relpath}: {u.note}")
    assert expected.studies, "no valid instance in the corpus"


# --------------------------------------------------------------------------------------------
# 1, 2, 4: the answer to every upload


def test_upload_outcome(corpus_file, expected, uploaded):
    if corpus_file is None:
        pytest.fail("no corpus: run scripts/fetch-test-data.sh")
    upload = expected.by_name(corpus_file)
    result: Result = uploaded[corpus_file]
    inst = upload.instance
    why = f"{corpus_file} expected {upload.expected} ({upload.note or inst.reason}); server: {result.describe()}"
    assert result.status < 500, "server error: " + why
    if upload.expected == dx.CREATED:
        assert result.status == 201, why
        assert result.location_id == inst.sha256, why
    elif upload.expected == dx.UNCHANGED:
        assert result.status == 200, why
        assert result.location_id == inst.sha256, why
    elif upload.expected == dx.CONFLICT:
        assert result.status == 409, why
        problem = operation_outcome_problem(result)
        assert problem is None, f"{problem}; {why}"
    elif upload.expected == dx.REJECTED:
        assert 400 <= result.status < 500, why
        problem = operation_outcome_problem(result)
        assert problem is None, f"{problem}; {why}"
    # UNKNOWN: pydicom cannot tell, only "no 5xx" applies


def test_no_server_error_on_any_upload(expected, uploaded):
    errors = [f"{rel}: {res.describe()}" for rel, res in sorted(uploaded.items()) if res.status >= 500]
    assert not errors, "5xx answers:\n" + "\n".join(errors)


# --------------------------------------------------------------------------------------------
# 2: the bytes come back unchanged


def test_binary_round_trip(fhir, expected, uploaded):
    def check(inst: dx.Instance) -> str | None:
        response = fhir.get(f"Binary/{inst.sha256}", accept=DICOM)
        if response.status_code != 200:
            return f"{inst.relpath}: GET Binary/{inst.sha256}: {response.status_code} {response.text[:300]}"
        if response.content != inst.data:
            return (f"{inst.relpath}: other bytes ({len(response.content)} bytes, sha256 "
                    f"{dx.sha256_hex(response.content)}; expected {len(inst.data)})")
        if not response.headers.get("Content-Type", "").startswith(DICOM):
            return f"{inst.relpath}: Content-Type {response.headers.get('Content-Type')!r}"
        return None

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        problems = [p for p in pool.map(check, expected.stored()) if p]
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------
# 5: one ImagingStudy per study, listing exactly the accepted instances


def study_problems(fhir, expected: dx.Corpus, uid: str, study: dict) -> list[str]:
    exp = expected.studies[uid]
    base = fhir.base
    problems = []
    insts = list(exp.instances.values())

    def must(condition: bool, message: str):
        if not condition:
            problems.append(message)

    must(study.get("id") == uid, f"id {study.get('id')!r}")
    must({"system": dx.DICOM_UID_SYSTEM, "value": f"urn:oid:{uid}"} in
         [{"system": i.get("system"), "value": i.get("value")} for i in study.get("identifier", [])],
         f"no identifier urn:dicom:uid / urn:oid:{uid}: {study.get('identifier')}")
    must(study.get("status") == "available", f"status {study.get('status')!r}")
    series_expected = exp.series()
    must(study.get("numberOfSeries") == len(series_expected),
         f"numberOfSeries {study.get('numberOfSeries')} != {len(series_expected)}")
    must(study.get("numberOfInstances") == len(insts),
         f"numberOfInstances {study.get('numberOfInstances')} != {len(insts)}")

    descriptions = {i.study_description for i in insts if i.study_description}
    if descriptions:
        must(study.get("description") in descriptions, f"description {study.get('description')!r} not in {descriptions}")
    dates = {i.study_date for i in insts if i.study_date}
    if dates:
        must((study.get("started") or "")[:10] in dates, f"started {study.get('started')!r}, StudyDate {dates}")
    accessions = {i.accession for i in insts if i.accession}
    if accessions:
        acsn = [i.get("value") for i in study.get("identifier", [])
                if any(c.get("code") == "ACSN" for c in i.get("type", {}).get("coding", []))]
        must(any(a in accessions for a in acsn), f"accession identifiers {acsn}, AccessionNumber {accessions}")

    # every stored SOP instance exactly once, under its series, nothing else
    listed = all_instances(study)
    listed_uids = [instance.get("uid") for _, instance in listed]
    for sop, inst in exp.instances.items():
        count = listed_uids.count(sop)
        must(count == 1, f"{inst.relpath}: SOP Instance {sop} listed {count} times")
    extra = sorted(set(listed_uids) - set(exp.instances))
    must(not extra, f"instances that no accepted file has: {extra}")

    series_by_uid = {s.get("uid"): s for s in study.get("series", [])}
    must(set(series_by_uid) == set(series_expected),
         f"series {sorted(series_by_uid)} != expected {sorted(series_expected)}")
    for series_uid, members in series_expected.items():
        series = series_by_uid.get(series_uid)
        if series is None:
            continue
        numbers = {m.series_number for m in members if m.series_number is not None}
        if numbers:
            must(series.get("number") in numbers, f"series {series_uid}: number {series.get('number')} not in {numbers}")
        modalities = {m.modality for m in members if m.modality}
        if modalities:
            must(series.get("modality", {}).get("code") in modalities,
                 f"series {series_uid}: modality {series.get('modality')} not in {modalities}")
        if "numberOfInstances" in series:
            must(series["numberOfInstances"] == len(members),
                 f"series {series_uid}: numberOfInstances {series['numberOfInstances']} != {len(members)}")
        listed_here = {i.get("uid"): i for i in series.get("instance", [])}
        for inst in members:
            instance = listed_here.get(inst.sop_uid)
            if instance is None:
                problems.append(f"{inst.relpath}: SOP Instance {inst.sop_uid} not under series {series_uid}")
                continue
            where = f"{inst.relpath} ({inst.sop_uid})"
            must(instance.get("sopClass", {}).get("code") == f"urn:oid:{inst.sop_class_uid}",
                 f"{where}: sopClass {instance.get('sopClass')} != urn:oid:{inst.sop_class_uid}")
            if inst.instance_number is not None and inst.instance_number >= 0:
                must(instance.get("number") == inst.instance_number,
                     f"{where}: number {instance.get('number')} != InstanceNumber {inst.instance_number}")
            binary = extensions(instance, dx.INSTANCE_BINARY_URL)
            refs = [local_reference((ext_value(b) or {}).get("reference"), base) for b in binary]
            must(refs == [f"Binary/{inst.sha256}"], f"{where}: instance-binary {refs} != Binary/{inst.sha256}")
            attributes = extensions(instance, dx.INSTANCE_ATTRIBUTES_URL)
            if len(attributes) != 1:
                problems.append(f"{where}: {len(attributes)} instance-attributes extensions")
                continue
            sub = {e.get("url"): ext_value(e) for e in attributes[0].get("extension", [])}
            must(sub.get("transferSyntax") == f"urn:oid:{inst.transfer_syntax}",
                 f"{where}: transferSyntax {sub.get('transferSyntax')!r} != urn:oid:{inst.transfer_syntax}")
            for key, value in (("rows", inst.rows), ("columns", inst.columns)):
                if value is not None:
                    must(sub.get(key) == value, f"{where}: {key} {sub.get(key)!r} != {value}")
    return problems


def patient_problems(fhir, expected: dx.Corpus, uid: str, study: dict) -> list[str]:
    exp = expected.studies[uid]
    reference = local_reference(study.get("subject", {}).get("reference"), fhir.base)
    if not reference or not reference.startswith("Patient/"):
        return [f"subject {study.get('subject')!r} is not a Patient reference"]
    patient = fhir.read(reference)
    ids = {i.get("value") for i in patient.get("identifier", [])}
    study_pids = {i.patient_id for i in exp.instances.values() if i.patient_id}
    if not study_pids:
        return []
    shared = ids & study_pids
    if not shared:
        return [f"{reference}: identifiers {sorted(ids)} hold none of the study's PatientIDs {sorted(study_pids)}"]
    # The Patient is created by the first instance of that patient that reaches the server: it
    # must match one accepted instance with that PatientID in every demographic field.
    candidates = [i for i in expected.stored() if i.patient_id in shared]
    families = [n[0] for n in human_names(patient)]

    def mismatch(inst: dx.Instance) -> list[str]:
        out = []
        if inst.patient_sex in dx.SEX_TO_GENDER and patient.get("gender") != dx.SEX_TO_GENDER[inst.patient_sex]:
            out.append(f"gender {patient.get('gender')!r} for PatientSex {inst.patient_sex!r}")
        if inst.birth_date and patient.get("birthDate") != inst.birth_date:
            out.append(f"birthDate {patient.get('birthDate')!r} != {inst.birth_date}")
        if inst.family and inst.family not in families:
            out.append(f"family names {families} lack {inst.family!r}")
        return out

    reports = {c.relpath: mismatch(c) for c in candidates}
    if all(reports.values()):
        return [f"{reference} matches no instance of PatientID {sorted(shared)}: "
                + "; ".join(f"{k}: {', '.join(v)}" for k, v in reports.items())]
    return []


def endpoint_problems(fhir, study: dict) -> list[str]:
    endpoints = study.get("endpoint", [])
    if not endpoints:
        return ["no endpoint"]
    problems = []
    for ref in endpoints:
        reference = local_reference(ref.get("reference"), fhir.base)
        endpoint = fhir.read(reference)
        if endpoint.get("connectionType", {}).get("code") != "dicom-wado-rs":
            problems.append(f"{reference}: connectionType {endpoint.get('connectionType')}")
        if endpoint.get("address") != f"{fhir.base}/dicomweb":
            problems.append(f"{reference}: address {endpoint.get('address')!r} != {fhir.base}/dicomweb")
    return problems


def test_imaging_study(fhir, expected, studies, study_uid):
    response = studies[study_uid]
    assert response.status_code == 200, f"GET ImagingStudy/{study_uid}: {response.status_code} {response.text[:500]}"
    study = response.json()
    problems = study_problems(fhir, expected, study_uid, study)
    problems += patient_problems(fhir, expected, study_uid, study)
    problems += endpoint_problems(fhir, study)
    files = sorted(i.relpath for i in expected.studies[study_uid].instances.values())
    assert not problems, f"ImagingStudy/{study_uid} (files {files}):\n  " + "\n  ".join(problems)


def test_no_unexpected_imaging_studies(fhir, expected, uploaded):
    """The corpus creates exactly the expected studies (other modules' studies are excluded: those
    of this module's later tests by running before them, test_dicomweb's by their UID prefix)."""
    from dicom_expect import TEST_STUDY_UID_PREFIX

    found = {s["id"] for s in fhir.search("ImagingStudy", {"_elements": "id"})}
    found = {uid for uid in found if not uid.startswith(TEST_STUDY_UID_PREFIX)}
    missing = set(expected.studies) - found
    extra = found - set(expected.studies)
    assert not missing and not extra, f"missing {sorted(missing)}, unexpected {sorted(extra)}"


def test_one_patient_per_patient_id(fhir, expected, studies):
    """Studies of one PatientID share one Patient (no duplicates from concurrent writers)."""
    subjects: dict[str, set[str]] = {}
    for uid, response in studies.items():
        if response.status_code != 200:
            continue
        pids = {i.patient_id for i in expected.studies[uid].instances.values() if i.patient_id}
        if len(pids) == 1:
            subjects.setdefault(pids.pop(), set()).add(response.json().get("subject", {}).get("reference"))
    duplicates = {pid: sorted(refs) for pid, refs in subjects.items() if len(refs) > 1}
    assert not duplicates, f"PatientIDs with several Patients: {duplicates}"


CHARSET_FILES = ["chrH31.dcm", "chrH32.dcm", "chrX1.dcm", "chrX2.dcm", "chrKoreanMulti.dcm", "chrI2.dcm",
                 "chrJapMulti.dcm", "chrFren.dcm", "chrGerm.dcm", "chrRuss.dcm", "chrGreek.dcm", "chrArab.dcm",
                 "chrHbrw.dcm"]


@pytest.mark.parametrize("name", CHARSET_FILES)
def test_patient_name_character_sets(fhir, expected, studies, name):
    matches = [u for u in expected.uploads if u.instance.name == name]
    if not matches:
        pytest.fail(f"{name} is not in the corpus (expected in pydicom's charset_files)")
    inst = matches[0].instance
    assert matches[0].expected == dx.CREATED, f"{name}: {matches[0].expected} {matches[0].note}"
    response = studies[inst.study_uid]
    assert response.status_code == 200
    reference = local_reference(response.json().get("subject", {}).get("reference"), fhir.base)
    patient = fhir.read(reference)
    names = human_names(patient)
    missing = []
    for group in inst.patient_name:
        if not group:
            continue
        family, given = group[0], (group[1] if len(group) > 1 else "")
        if not any((not family or f == family) and (not given or given in g) for f, g in names):
            missing.append((family, given))
    assert not missing, f"{name} ({inst.charset}): {reference} names {names} lack {missing} (pydicom: {inst.patient_name})"


def test_first_instance_wins_a_sop_conflict(fhir, expected, studies):
    """MR_small.dcm was stored first: its variants (other bytes, same SOP Instance UID) change nothing."""
    for owner_name in ("pydicom/MR_small.dcm", "pydicom-data/emri_small.dcm"):
        owner = expected.by_name(owner_name).instance
        study = fhir.read(f"ImagingStudy/{owner.study_uid}")
        entries = [i for _, i in all_instances(study) if i.get("uid") == owner.sop_uid]
        assert len(entries) == 1, f"{owner_name}: {len(entries)} entries"
        refs = [local_reference(ext_value(e).get("reference"), fhir.base)
                for e in extensions(entries[0], dx.INSTANCE_BINARY_URL)]
        assert refs == [f"Binary/{owner.sha256}"], f"{owner_name}: {refs}"
        assert version_id(study) == version_id(studies[owner.study_uid].json())


# --------------------------------------------------------------------------------------------
# 6: Provenance


def provenances(fhir, uid: str) -> list[dict]:
    return fhir.search("Provenance", {"target": f"ImagingStudy/{uid}"})


def source_binaries(fhir, provenance: dict) -> set[str]:
    return {local_reference(e.get("what", {}).get("reference"), fhir.base)
            for e in provenance.get("entity", []) if e.get("role") == "source"}


def test_provenance(fhir, expected, uploaded, study_uid):
    found = provenances(fhir, study_uid)
    binaries = {f"Binary/{i.sha256}" for i in expected.studies[study_uid].instances.values()}
    assert found, f"no Provenance?target=ImagingStudy/{study_uid}"
    sources = set().union(*(source_binaries(fhir, p) for p in found))
    assert sources & binaries, f"ImagingStudy/{study_uid}: Provenance sources {sorted(sources)} hold none of {sorted(binaries)}"
    # stronger: every stored instance of the study is the source of some write
    missing = binaries - sources
    assert not missing, f"ImagingStudy/{study_uid}: no Provenance names {sorted(missing)} as source"


# --------------------------------------------------------------------------------------------
# 7: everything the plugin wrote is valid FHIR R4


@pytest.fixture(scope="module")
def produced(fhir, expected, uploaded) -> dict[str, dict[str, dict]]:
    """Every ImagingStudy, Patient, Endpoint and Provenance the corpus produced, by type and id."""
    result: dict[str, dict[str, dict]] = {"ImagingStudy": {}, "Patient": {}, "Endpoint": {}, "Provenance": {}}
    for uid in sorted(expected.studies):
        response = fhir.get(f"ImagingStudy/{uid}")
        if response.status_code != 200:
            continue
        study = response.json()
        result["ImagingStudy"][uid] = study
        for ref in [study.get("subject", {})] + study.get("endpoint", []):
            reference = local_reference(ref.get("reference"), fhir.base)
            if reference and "/" in reference:
                kind, rid = reference.split("/", 1)
                if kind in result and rid not in result[kind]:
                    result[kind][rid] = fhir.read(reference)
        for provenance in provenances(fhir, uid):
            result["Provenance"][provenance["id"]] = provenance
    return result


@pytest.mark.parametrize("resource_type", ["ImagingStudy", "Patient", "Endpoint", "Provenance"])
def test_validate(fhir, produced, resource_type):
    resources = produced[resource_type]
    assert resources, f"the corpus produced no {resource_type}"

    def validate(item):
        rid, resource = item
        response = fhir.post_json(f"{resource_type}/$validate", resource)
        if response.status_code >= 500:
            return [f"{resource_type}/{rid}: $validate answered {response.status_code}: {response.text[:500]}"]
        try:
            outcome = response.json()
        except ValueError:
            return [f"{resource_type}/{rid}: $validate answered {response.status_code} without JSON"]
        return [f"{resource_type}/{rid}: {i.get('severity')}: {i.get('diagnostics')} @ {i.get('location') or i.get('expression')}"
                for i in outcome.get("issue", []) if i.get("severity") in ("error", "fatal")]

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        issues = [issue for issues in pool.map(validate, sorted(resources.items())) for issue in issues]
    assert not issues, f"{len(issues)} error/fatal issues:\n" + "\n".join(issues)


# --------------------------------------------------------------------------------------------
# 3: the same bytes again change nothing


def study_version(fhir, uid: str) -> str:
    response = fhir.get(f"ImagingStudy/{uid}")
    return version_id(response.json()) if response.status_code == 200 else f"HTTP {response.status_code}"


def test_reupload_is_a_no_op(fhir, expected, uploaded):
    stored = expected.stored()
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        before_binary = dict(zip([i.sha256 for i in stored],
                                 pool.map(lambda i: fhir.version_count(f"Binary/{i.sha256}"), stored)))
        before_study = {uid: study_version(fhir, uid) for uid in expected.studies}
        results = list(pool.map(lambda i: to_result(fhir.post_dicom(i.data)), stored))
        after_binary = dict(zip([i.sha256 for i in stored],
                                pool.map(lambda i: fhir.version_count(f"Binary/{i.sha256}"), stored)))
    after_study = {uid: study_version(fhir, uid) for uid in expected.studies}
    problems = []
    for inst, result in zip(stored, results):
        if result.status != 200 or result.location_id != inst.sha256:
            problems.append(f"{inst.relpath}: again: expected 200 and Binary/{inst.sha256}; {result.describe()}")
        if before_binary[inst.sha256] != after_binary[inst.sha256]:
            problems.append(f"{inst.relpath}: Binary versions {before_binary[inst.sha256]} -> {after_binary[inst.sha256]}")
        if before_binary[inst.sha256] != 1:
            problems.append(f"{inst.relpath}: Binary has {before_binary[inst.sha256]} versions after the first upload")
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        backs = list(pool.map(lambda i: fhir.get(f"Binary/{i.sha256}", accept=DICOM), stored))
    for inst, back in zip(stored, backs):
        if back.status_code != 200 or back.content != inst.data:
            problems.append(f"{inst.relpath}: after the re-upload GET Binary/{inst.sha256} answered {back.status_code} "
                            f"{back.headers.get('Content-Type')}, {len(back.content)} bytes instead of {len(inst.data)}")
    for uid in expected.studies:
        if before_study[uid] != after_study[uid]:
            problems.append(f"ImagingStudy/{uid}: versionId {before_study[uid]} -> {after_study[uid]}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------
# 8: bad input is refused and changes nothing


def bad_inputs(expected) -> dict[str, bytes]:
    ct = expected.by_name("pydicom/CT_small.dcm").instance
    no_study = dcmread(io.BytesIO(ct.data))
    new_sop = generate_uid()
    no_study.SOPInstanceUID = new_sop
    no_study.file_meta.MediaStorageSOPInstanceUID = new_sop
    del no_study.StudyInstanceUID
    return {
        "random bytes": random.Random(20240601).randbytes(4096),
        "empty body": b"",
        "CT_small cut after 1000 bytes": ct.data[:1000],
        "CT_small without StudyInstanceUID": dataset_bytes(no_study),
    }


@pytest.mark.parametrize("case", ["random bytes", "empty body", "CT_small cut after 1000 bytes",
                                  "CT_small without StudyInstanceUID"])
def test_bad_input_is_rejected(fhir, expected, uploaded, case):
    ct = expected.by_name("pydicom/CT_small.dcm").instance
    before = fhir.read(f"ImagingStudy/{ct.study_uid}")
    result = to_result(fhir.post_dicom(bad_inputs(expected)[case]))
    assert 400 <= result.status < 500, f"{case}: {result.describe()}"
    problem = operation_outcome_problem(result)
    assert problem is None, f"{case}: {problem}"
    after = fhir.read(f"ImagingStudy/{ct.study_uid}")
    assert version_id(after) == version_id(before), f"{case}: ImagingStudy of CT_small changed"
    assert after.get("numberOfInstances") == before.get("numberOfInstances")


def test_other_content_types_pass_through(fhir):
    data = f"not DICOM, just text {uuid.uuid4()}\n".encode()
    response = fhir.request("POST", "Binary", data=data, headers={"Content-Type": "text/plain", "Accept": FHIR_JSON})
    result = to_result(response)
    assert result.status == 201, result.describe()
    assert result.location_id and result.location_id != dx.sha256_hex(data), result.describe()
    back = fhir.get(f"Binary/{result.location_id}", accept="text/plain")
    assert back.status_code == 200 and back.content == data, f"{back.status_code} {back.content[:200]!r}"


# --------------------------------------------------------------------------------------------
# 9: DICOM in FHIR JSON: a Binary, and Binaries inside a transaction


def binary_json(data: bytes) -> dict:
    return {"resourceType": "Binary", "contentType": DICOM, "data": base64.b64encode(data).decode()}


def test_fhir_json_binary_upload(fhir, expected):
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data = synthetic_instance(expected, study, series, sop)
    sha = dx.sha256_hex(data)

    def round_trip(when: str):
        back = fhir.get(f"Binary/{sha}", accept=DICOM)
        assert back.status_code == 200 and back.content == data, (
            f"{when}: GET Binary/{sha} (Accept {DICOM}) answered {back.status_code}, "
            f"{back.headers.get('Content-Type')}, {len(back.content)} bytes instead of the {len(data)} uploaded: "
            f"{back.content[:300]!r}")

    first = to_result(fhir.post_json("Binary", binary_json(data)))
    assert first.status == 201, first.describe()
    assert first.location_id == sha, first.describe()
    if first.body is not None:
        assert first.body.get("id") == sha, first.describe()
    round_trip("after the first upload")
    again = to_result(fhir.post_json("Binary", binary_json(data)))
    assert again.status == 200 and again.location_id == sha, again.describe()
    round_trip("after uploading the same Binary again")
    assert fhir.version_count(f"Binary/{sha}") == 1, "the second identical upload made a new version"
    imaging = fhir.read(f"ImagingStudy/{study}")
    assert [i.get("uid") for _, i in all_instances(imaging)] == [sop]


def test_transaction_with_dicom_binaries(fhir, expected):
    study, series = generate_uid(), generate_uid()
    sops = [generate_uid(), generate_uid()]
    datas = [synthetic_instance(expected, study, series, sop, instance_number=n + 1) for n, sop in enumerate(sops)]
    shas = [dx.sha256_hex(d) for d in datas]
    full_urls = [f"urn:uuid:{uuid.uuid4()}" for _ in datas]
    link_url = "http://dicomfhir.org/fhir/StructureDefinition/e2e-source"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            *[{"fullUrl": url, "resource": binary_json(d), "request": {"method": "POST", "url": "Binary"}}
              for url, d in zip(full_urls, datas)],
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}",
             "resource": {"resourceType": "Basic", "code": {"text": "dicom-fhir e2e"},
                          "extension": [{"url": link_url, "valueReference": {"reference": full_urls[0]}}]},
             "request": {"method": "POST", "url": "Basic"}},
        ],
    }
    response = fhir.post_json("", bundle)
    assert response.status_code == 200, f"{response.status_code} {response.text[:1500]}"
    entries = response.json().get("entry", [])
    assert len(entries) == 3, response.text[:1500]
    for entry, sha in zip(entries[:2], shas):
        location = entry.get("response", {}).get("location", "")
        assert f"Binary/{sha}" in location, f"entry location {location!r}, expected Binary/{sha}"
        assert entry.get("response", {}).get("status", "").startswith("201"), entry.get("response")
    for data, sha in zip(datas, shas):
        back = fhir.get(f"Binary/{sha}", accept=DICOM)
        assert back.status_code == 200 and back.content == data, f"Binary/{sha}: {back.status_code}"
    basic_location = entries[2].get("response", {}).get("location", "")
    basic = fhir.read(local_reference(basic_location, fhir.base))
    refs = [local_reference((ext_value(e) or {}).get("reference"), fhir.base) for e in extensions(basic, link_url)]
    assert refs == [f"Binary/{shas[0]}"], f"Basic extension references {refs}, expected Binary/{shas[0]}"
    imaging = fhir.read(f"ImagingStudy/{study}")
    assert sorted(i.get("uid") for _, i in all_instances(imaging)) == sorted(sops)


# --------------------------------------------------------------------------------------------
# 10: deleting a Binary removes its instance


def test_delete_instance_updates_the_study(fhir, expected):
    study = generate_uid()
    series_a, series_b = generate_uid(), generate_uid()
    plan = [(series_a, 1, 1), (series_a, 1, 2), (series_b, 2, 1)]
    uploaded_here = []
    for series, series_number, number in plan:
        sop = generate_uid()
        data = synthetic_instance(expected, study, series, sop, series_number, number)
        result = to_result(fhir.post_dicom(data))
        assert result.status == 201, result.describe()
        uploaded_here.append((series, sop, dx.sha256_hex(data)))
    imaging = fhir.read(f"ImagingStudy/{study}")
    assert (imaging.get("numberOfSeries"), imaging.get("numberOfInstances")) == (2, 3)

    _, sop_b, sha_b = uploaded_here[2]
    response = fhir.request("DELETE", f"Binary/{sha_b}")
    assert response.status_code in (200, 204), f"DELETE Binary/{sha_b}: {response.status_code} {response.text[:500]}"
    imaging = fhir.read(f"ImagingStudy/{study}")
    assert (imaging.get("numberOfSeries"), imaging.get("numberOfInstances")) == (1, 2), imaging
    assert sop_b not in [i.get("uid") for _, i in all_instances(imaging)]
    assert [s.get("uid") for s in imaging.get("series", [])] == [series_a]
    gone = fhir.get(f"Binary/{sha_b}", accept=DICOM)
    assert gone.status_code in (404, 410), gone.status_code

    _, sop_a1, sha_a1 = uploaded_here[0]
    response = fhir.request("DELETE", f"Binary/{sha_a1}")
    assert response.status_code in (200, 204), response.text[:500]
    imaging = fhir.read(f"ImagingStudy/{study}")
    assert (imaging.get("numberOfSeries"), imaging.get("numberOfInstances")) == (1, 1), imaging
    assert [i.get("uid") for _, i in all_instances(imaging)] == [uploaded_here[1][1]]
    assert imaging.get("series", [{}])[0].get("numberOfInstances", 1) == 1


def test_delete_last_instance_removes_the_study(fhir, expected):
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data = synthetic_instance(expected, study, series, sop)
    result = to_result(fhir.post_dicom(data))
    assert result.status == 201, result.describe()
    assert fhir.get(f"ImagingStudy/{study}").status_code == 200
    response = fhir.request("DELETE", f"Binary/{result.location_id}")
    assert response.status_code in (200, 204), response.text[:500]
    after = fhir.get(f"ImagingStudy/{study}")
    assert after.status_code in (404, 410), f"ImagingStudy/{study} after deleting its only instance: {after.status_code} {after.text[:500]}"


def test_delete_then_upload_again(fhir, expected):
    """After a delete the same bytes can be stored again and are listed again."""
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data = synthetic_instance(expected, study, series, sop)
    sha = dx.sha256_hex(data)
    assert to_result(fhir.post_dicom(data)).status == 201
    assert fhir.request("DELETE", f"Binary/{sha}").status_code in (200, 204)
    again = to_result(fhir.post_dicom(data))
    assert again.status in (200, 201) and again.location_id == sha, again.describe()
    imaging = fhir.read(f"ImagingStudy/{study}")
    assert [i.get("uid") for _, i in all_instances(imaging)] == [sop]
