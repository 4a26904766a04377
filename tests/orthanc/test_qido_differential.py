"""Same instances, same QIDO-RS query, same answer: our facade against Orthanc + DICOMweb.

For every query of the table both servers must return the same studies / series / instances, and
for each of them the same values of the attributes PS3.18 requires at that level (Tables 10.6.3-3,
-4, -5). Where Orthanc 1.10 / DICOMweb 1.7 is the one that is wrong, the difference is listed in
ORTHANC_DEFECTS with the reason, and that attribute is not compared (the test still checks ours
against the corpus through the other attributes and the e2e tests).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pydicom
import pytest
import requests

from conftest import corpus, data_dir

# PS3.18 Table 10.6.3-3 (study), -4 (series), -5 (instance): attributes a QIDO-RS response must
# contain at that level. Sequences (RequestAttributesSequence) and the conditional
# TimezoneOffsetFromUTC are left out.
STUDY = {"00080020": "StudyDate", "00080030": "StudyTime", "00080050": "AccessionNumber",
         "00080056": "InstanceAvailability", "00080061": "ModalitiesInStudy",
         "00080090": "ReferringPhysicianName", "00081190": "RetrieveURL", "00100010": "PatientName",
         "00100020": "PatientID", "00100030": "PatientBirthDate", "00100040": "PatientSex",
         "0020000D": "StudyInstanceUID", "00200010": "StudyID", "00201206": "NumberOfStudyRelatedSeries",
         "00201208": "NumberOfStudyRelatedInstances"}
SERIES = {"00080060": "Modality", "0008103E": "SeriesDescription", "0020000E": "SeriesInstanceUID",
          "00200011": "SeriesNumber", "00201209": "NumberOfSeriesRelatedInstances",
          "00400244": "PerformedProcedureStepStartDate", "00400245": "PerformedProcedureStepStartTime",
          "00081190": "RetrieveURL"}
INSTANCE = {"00080016": "SOPClassUID", "00080018": "SOPInstanceUID", "00080056": "InstanceAvailability",
            "00081190": "RetrieveURL", "00200013": "InstanceNumber", "00280010": "Rows", "00280011": "Columns",
            "00280100": "BitsAllocated", "00280008": "NumberOfFrames"}
KEY = {"study": "0020000D", "series": "0020000E", "instance": "00080018"}
REQUIRED = {"study": STUDY, "series": SERIES, "instance": INSTANCE}

# Differences where Orthanc 1.10.1 + DICOMweb 1.7 is wrong, (level, keyword) -> why; these are not
# compared. Found by this test; see docs/benchmarks.md "Differential QIDO test against Orthanc".
ORTHANC_DEFECTS: dict[tuple[str, str], str] = {
    ("study", "InstanceAvailability"): "Orthanc omits InstanceAvailability (0008,0056) at study level; "
                                        "PS3.18 Table 10.6.3-3 requires it",
    ("instance", "InstanceAvailability"): "Orthanc omits InstanceAvailability on every instance resource "
                                           "(/instances, /studies/{s}/instances, .../series/{se}/instances); "
                                           "PS3.18 Table 10.6.3-5 requires it",
}
# ... and where it is wrong only on the study-less resources (/instances, /series): path prefix too.
ORTHANC_DEFECTS_STUDYLESS: dict[tuple[str, str], str] = {}
DATE_ATTRS = {"StudyDate", "PerformedProcedureStepStartDate"}


def queries() -> list[tuple[str, str, str]]:
    """(id, path relative to the DICOMweb base, level of the answer) from the corpus' stored instances.
    `*` is sent unencoded: Orthanc 1.10 does not percent-decode query values."""
    stored = corpus().stored()
    q = [("all studies", "studies", "study"), ("all series", "series", "series")]
    pids = sorted({i.patient_id for i in stored if i.patient_id and re.fullmatch(r"[A-Za-z0-9._-]+", i.patient_id)})
    for pid in pids[:6]:
        q.append((f"studies PatientID={pid}", f"studies?PatientID={pid}", "study"))
    fams = sorted({i.family[:3] for i in stored if i.family and re.fullmatch(r"[A-Za-z]{3,}.*", i.family)})
    for f in fams[:4]:
        q.append((f"studies PatientName={f}*", f"studies?PatientName={f}*", "study"))
    dates = sorted({i.study_date.replace("-", "") for i in stored if i.study_date and len(i.study_date) == 10})
    if len(dates) >= 2:
        lo, hi = dates[len(dates) // 4], dates[3 * len(dates) // 4]
        q.append((f"studies StudyDate={lo}-{hi}", f"studies?StudyDate={lo}-{hi}", "study"))
        q.append((f"studies StudyDate=-{dates[len(dates) // 2]}", f"studies?StudyDate=-{dates[len(dates) // 2]}", "study"))
    for mod in ("CT", "MR", "OT"):
        q.append((f"studies ModalitiesInStudy={mod}", f"studies?ModalitiesInStudy={mod}", "study"))
        q.append((f"series Modality={mod}", f"series?Modality={mod}", "series"))
    q.append(("studies includefield=all", "studies?includefield=all", "study"))
    ct = "1.2.840.10008.5.1.4.1.1.2"
    q.append(("instances SOPClassUID=CT", f"instances?SOPClassUID={ct}", "instance"))
    for study in sorted({i.study_uid for i in stored}):
        q.append((f"series of {study}", f"studies/{study}/series", "series"))
        q.append((f"instances of {study}", f"studies/{study}/instances", "instance"))
    for study, series in sorted({(i.study_uid, i.series_uid) for i in stored}):
        q.append((f"instances of series {series}", f"studies/{study}/series/{series}/instances", "instance"))
    return q


QUERIES = queries() if corpus().uploads else []


def fetch(base: str, path: str) -> list[dict]:
    r = requests.get(f"{base}/{path}", headers={"Accept": "application/dicom+json"}, timeout=120)
    assert r.status_code in (200, 204), f"{base}/{path}: {r.status_code} {r.text[:300]}"
    return r.json() if r.status_code == 200 and r.content.strip() else []


def norm(element: dict | None, base: str):
    """One attribute's value, comparable across servers: absent = empty = None; PN as its
    Alphabetic groups; numbers as text without leading zeros; URLs relative to the service base;
    ModalitiesInStudy as a set."""
    if not element:
        return None
    values = element.get("Value")
    if not values:
        return None
    out = []
    for v in values:
        if isinstance(v, dict):
            # Trailing empty components ("OB^^^^") are the same name (PS3.5 §6.2).
            v = v.get("Alphabetic", "").rstrip("^= ")
        v = str(v).strip()
        if element.get("vr") in ("IS", "US", "UL", "SS", "SL", "DS"):
            try:
                v = str(int(float(v)))
            except ValueError:
                pass
        if element.get("vr") == "UR" and v.startswith(base):
            v = v[len(base):]
        elif element.get("vr") == "UR":
            v = urlsplit(v).path.split("/dicom-web", 1)[-1].split("/dicomweb", 1)[-1]
        out.append(v)
    if not any(out):
        return None
    return out


def by_key(answer: list[dict], level: str) -> dict[str, dict]:
    key = KEY[level]
    return {m[key]["Value"][0]: m for m in answer}


# Corpus files only one of the two servers stores (STOW-RS), relative path -> (whose store keeps
# it, why the other refuses it). Every other file must be stored by both or by neither: a file
# that one server starts or stops accepting fails test_one_sided_acceptance_is_known. The files
# listed here (and series / studies made only of them) are left out of the QIDO comparison.
ONE_SIDED: dict[str, tuple[str, str]] = {
    "pydicom/SC_rgb_jpeg.dcm": ("ours", "Orthanc 1.10 answers 400, its log: 'Bad file format: Cannot parse "
                                "an invalid DICOM file' (DCMTK refuses it; pydicom and ours read it)"),
    "pydicom-data/explicit_VR-UN.dcm": ("ours", "Orthanc 1.10 answers 400, its log: 'STOW-RS: Missing a mandatory "
                                        "tag' (the file encodes StudyInstanceUID with VR UN, see "
                                        "tests/e2e/dicom_expect.py; pydicom and ours read it)"),
}


def test_one_sided_acceptance_is_known(peers):
    """Which files only one server accepts is exactly ONE_SIDED: nothing new, nothing stale."""
    found = {i.relpath: ("ours", f"Orthanc {status}") for i, status in peers.only_ours}
    found |= {i.relpath: ("orthanc", f"ours {status}") for i, status in peers.only_orthanc}
    unknown = {k: v for k, v in found.items() if ONE_SIDED.get(k, ("",))[0] != v[0]}
    stale = sorted(k for k, (who, _) in ONE_SIDED.items() if found.get(k, ("",))[0] != who)
    assert not unknown and not stale, (
        f"accepted by one server only, not in ONE_SIDED (stored by, other's status): {unknown}; "
        f"in ONE_SIDED but no longer one-sided: {stale}")


# Differences that are ours, known and not mended yet: the query still runs (xfail, not strict).
KNOWN_OURS: dict[str, str] = {}

# Orthanc defect: an open-start date range ("-20051130") also matches studies without a
# StudyDate (it compares the empty string, which sorts first). PS3.4 C.2.2.2.5: "-<date1>" matches
# "all occurrences of dates prior to and including <date1>"; no value is no such occurrence.
OPEN_START_DATE = re.compile(r"[?&]StudyDate=-")


def undated_studies() -> set[str]:
    """Studies none of whose stored files has a StudyDate value (ACR-NEMA dates count as dates)."""
    stored = corpus().stored()
    dated = {i.study_uid for i in stored
             if str(pydicom.dcmread(data_dir() / i.relpath, force=True, stop_before_pixels=True,
                                    specific_tags=["StudyDate"]).get("StudyDate") or "").strip()}
    return {i.study_uid for i in stored} - dated


def _param(path: str, level: str, qid: str):
    known = [reason for prefix, reason in KNOWN_OURS.items() if path.startswith(prefix)]
    marks = [pytest.mark.xfail(reason=known[0], strict=False)] if known else []
    return pytest.param(path, level, id=qid, marks=marks)


@pytest.mark.parametrize("path,level", [_param(p, lvl, i) for i, p, lvl in QUERIES])
def test_same_answer(peers, path, level):
    skip = peers.one_sided_uids()
    ours = {k: v for k, v in by_key(fetch(peers.ours, path), level).items() if k not in skip}
    theirs = {k: v for k, v in by_key(fetch(peers.orthanc, path), level).items() if k not in skip}
    if OPEN_START_DATE.search(path):
        undated = undated_studies()
        assert not set(ours) & undated, f"{path}: studies without StudyDate matched: {set(ours) & undated}"
        theirs = {k: v for k, v in theirs.items() if k not in undated}
    assert sorted(ours) == sorted(theirs), (
        f"different {level} UIDs for {path}: only ours {sorted(set(ours) - set(theirs))}, "
        f"only Orthanc {sorted(set(theirs) - set(ours))}")
    diffs = []
    for uid in ours:
        for tag, name in REQUIRED[level].items():
            if (level, name) in ORTHANC_DEFECTS:
                continue
            if not path.startswith("studies") and (level, name) in ORTHANC_DEFECTS_STUDYLESS:
                continue
            a, b = norm(ours[uid].get(tag), peers.ours), norm(theirs[uid].get(tag), peers.orthanc)
            if name == "PatientName" and a and any(ord(ch) > 127 for ch in a[0]) and a != b:
                # Orthanc defect: names in other character sets (ISO 2022 Korean/Japanese, Greek,
                # Arabic, Hebrew, Cyrillic: pydicom's charset files) come back empty or mangled;
                # ours are checked against pydicom's decoding by tests/e2e.
                continue
            if b is None and a and name == "NumberOfFrames" and not a[0].isdigit():
                # Orthanc drops a stored value that is no valid IS ("1A" in one corpus file); we
                # answer the stored value as it is.
                continue
            if name in DATE_ATTRS and b and re.fullmatch(r"\d{4}\.\d{2}\.\d{2}", b[0]):
                # Orthanc defect: it returns a stored ACR-NEMA date "1997.04.24" as is, which is no
                # DA value (PS3.5 Table 6.2-1: YYYYMMDD); we answer the DA form.
                b = [b[0].replace(".", "")]
            if name == "ModalitiesInStudy" and a and b:
                a, b = sorted(set(a)), sorted(set(b))
            if a != b:
                diffs.append(f"{uid} {name}: ours {a}, Orthanc {b}")
    assert not diffs, f"{path}: " + "; ".join(diffs[:20])


def test_every_stored_instance_is_found_by_both(peers):
    """The corpus instances both servers accepted are all listed by an instance-level query."""
    assert peers.stored, "no instance was accepted by both servers"
    for inst in peers.stored:
        path = f"studies/{inst.study_uid}/series/{inst.series_uid}/instances?SOPInstanceUID={inst.sop_uid}"
        assert len(fetch(peers.ours, path)) == 1, f"ours does not find {inst.relpath}"
        assert len(fetch(peers.orthanc, path)) == 1, f"Orthanc does not find {inst.relpath}"
