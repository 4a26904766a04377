"""The CLI and the Python module against a real running server (DICOMFHIR_BASE_URL).

Each test makes its own study (copies of CT_small with new UIDs), so the server's state from
other tests does not matter, except in test_corpus_upload_then_verify_clean, which audits the
whole store.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import dicom_fhir  # not installed: pip install ./rust/python (scripts/e2e.sh does); a missing module fails


def summary_number(text: str, pattern: str) -> int:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in:\n{text}"
    return int(m.group(1))


def test_corpus_upload_then_verify_clean(run_cli, base_url, corpus, tmp_path):
    report_file = tmp_path / "report.json"
    r = run_cli("upload", corpus, "--server", base_url, "--jobs", "4", "--report", report_file)
    report = json.loads(report_file.read_text())
    assert report["instances"] > 50
    assert report["not_dicom"], "the corpus has files that are not DICOM"
    assert "skipped" in r.stderr and "not DICOM" in r.stderr
    # Damaged DICOM files (DICM prefix, but truncated, broken meta, no key UIDs) fail unsent.
    invalid = [f for f in report["failed"] if f["reason"].startswith("invalid DICOM: ")]
    assert any(f["path"].endswith("MR_truncated.dcm") for f in invalid), report["failed"]
    assert not any("DICOMDIR" in f["path"] for f in invalid), invalid
    # The corpus holds the same SOP Instance UID with other bytes (other transfer syntaxes):
    # those, and only those, are refused with 409.
    for failure in report["failed"]:
        assert failure in invalid or "HTTP 409" in failure["reason"], failure
    assert r.returncode == 1, r.stdout + r.stderr
    for failure in report["failed"]:
        assert failure["path"] in r.stdout
    r = run_cli("verify", "--server", base_url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "clean" in r.stdout


def test_upload_folder_then_verify_study(run_cli, base_url, make_copies, fhir):
    folder, paths, study = make_copies(5)
    (folder / "README.txt").write_text("not DICOM")
    r = run_cli("upload", folder, "--server", base_url, "--jobs", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stored 5 new" in r.stdout
    assert "README.txt" in r.stderr
    imaging_study = fhir.read(f"ImagingStudy/{study}")
    assert imaging_study["numberOfInstances"] == 5
    r = run_cli("verify", "--server", base_url, "--study", study)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "clean" in r.stdout and "5 instance entries" in r.stdout


def test_interrupted_upload_resumes(run_cli, base_url, make_copies, fhir):
    folder, paths, study = make_copies(10)
    before = fhir.dicom_count()
    r = run_cli("upload", *paths[:4], "--server", base_url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert fhir.dicom_count() == before + 4
    r = run_cli("upload", folder, "--server", base_url, "--jobs", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    assert summary_number(r.stdout, r"skipped (\d+) already stored") == 4
    assert summary_number(r.stdout, r"stored (\d+) new") == 6
    assert summary_number(r.stdout, r"(\d+) unchanged") == 0
    assert fhir.dicom_count() == before + 10
    # Binary versions: the 4 already stored were not sent again (a re-send would be a no-op
    # update, still version 1; the CLI summary is the proof that nothing was sent).
    assert fhir.read(f"ImagingStudy/{study}")["numberOfInstances"] == 10


def find_in_binstore(binstore: Path, data: bytes) -> Path | None:
    for p in binstore.rglob("*"):
        if p.is_file() and p.stat().st_size == len(data) and p.read_bytes() == data:
            return p
    return None


def test_tampered_binary_is_reported(run_cli, base_url, make_copies):
    binstore = os.environ.get("DICOMFHIR_BINSTORE")
    if not binstore:
        pytest.fail("DICOMFHIR_BINSTORE (the server's binary store directory) not set: scripts/e2e.sh sets it")
    folder, paths, study = make_copies(2)
    r = run_cli("upload", folder, "--server", base_url)
    assert r.returncode == 0, r.stdout + r.stderr
    data = paths[0].read_bytes()
    stored = find_in_binstore(Path(binstore), data)
    if stored is None:
        pytest.fail(f"the bytes of {paths[0].name} are not stored as a plain file under {binstore}")
    tampered = bytearray(data)
    tampered[-1] ^= 0xFF
    stored.write_bytes(bytes(tampered))
    try:
        r = run_cli("verify", "--server", base_url, "--study", study, "--repair")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "[hash-mismatch]" in r.stdout
        assert dicom_fhir.read(paths[0]).sha256 in r.stdout
    finally:
        stored.write_bytes(data)
    r = run_cli("verify", "--server", base_url, "--study", study)
    assert r.returncode == 0, r.stdout + r.stderr


def test_verify_repairs_unlisted_and_dangling(run_cli, base_url, make_copies, fhir):
    folder, paths, study = make_copies(3)
    r = run_cli("upload", folder, "--server", base_url)
    assert r.returncode == 0, r.stdout + r.stderr
    removed = dicom_fhir.read(paths[0])
    resource = fhir.read(f"ImagingStudy/{study}")
    series = resource["series"][0]
    kept = [i for i in series["instance"] if i["uid"] != removed.sop_instance_uid]
    ghost = json.loads(json.dumps(kept[0]))
    ghost["uid"] = "2.25.1234567890123456789"
    missing_sha = "0" * 64
    for ext in ghost["extension"]:
        if ext["url"].endswith("instance-binary"):
            ext["valueReference"]["reference"] = f"Binary/{missing_sha}"
    series["instance"] = kept + [ghost]
    put = fhir.put(f"ImagingStudy/{study}", resource)
    assert put.status_code == 200, put.text

    r = run_cli("verify", "--server", base_url, "--study", study, "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    kinds = sorted(p["kind"] for p in json.loads(r.stdout)["report"]["problems"])
    assert kinds == ["missing-binary", "unlisted"], r.stdout

    r = run_cli("verify", "--server", base_url, "--study", study, "--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "after repair" in r.stdout
    uids = {i["uid"] for s in fhir.read(f"ImagingStudy/{study}")["series"] for i in s["instance"]}
    assert removed.sop_instance_uid in uids and ghost["uid"] not in uids and len(uids) == 3


def test_python_upload(base_url, make_copies, fhir):
    folder, paths, study = make_copies(6)
    events = []
    report = dicom_fhir.upload([folder], base_url, jobs=3, progress=events.append)
    assert report["stored"] == 6 and report["skipped_existing"] == 0 and not report["failed"]
    assert events[-1]["phase"] == "done"
    uploading = [e for e in events if e["phase"] == "uploading"]
    assert uploading[-1]["files_done"] == 6 and uploading[-1]["bytes_done"] == uploading[-1]["bytes_total"]
    again = dicom_fhir.upload(folder, base_url)
    assert again["skipped_existing"] == 6 and again["stored"] == 0
    assert fhir.read(f"ImagingStudy/{study}")["numberOfInstances"] == 6
    assert dicom_fhir.verify(base_url, study=study)["problems"] == []


def test_python_upload_failure_is_upload_error(base_url, make_copies, tmp_path):
    import pydicom

    folder, paths, study = make_copies(1)
    dicom_fhir.upload(paths, base_url)
    other = tmp_path / "other-bytes"
    other.mkdir()
    ds = pydicom.dcmread(paths[0])
    ds.PatientName = "Other^Bytes"  # same SOP Instance UID, other bytes: 409
    ds.save_as(other / "conflict.dcm", enforce_file_format=True)
    with pytest.raises(dicom_fhir.UploadError) as info:
        dicom_fhir.upload(other, base_url)
    assert "conflict.dcm" in str(info.value)
    assert "409" in info.value.report["failed"][0]["reason"]


def test_python_progress_callback_can_cancel(base_url, make_copies):
    folder, paths, study = make_copies(4)

    def stop(event):
        if event["phase"] == "uploading":
            raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt):
        dicom_fhir.upload(folder, base_url, jobs=1, progress=stop)


def test_same_bytes_again_keeps_the_binary(base_url, make_copies):
    """verify --repair heals an unlisted instance by sending its bytes again, which the plugin
    documents as a no-op for the Binary. This checks that premise directly."""
    import hashlib

    import requests

    folder, paths, study = make_copies(1)
    data = paths[0].read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    for expected in (201, 200):
        r = requests.post(f"{base_url}/Binary", data=data, timeout=120,
                          headers={"Content-Type": "application/dicom", "Prefer": "return=minimal"})
        assert r.status_code == expected, r.text[:500]
    back = requests.get(f"{base_url}/Binary/{sha}", headers={"Accept": "application/dicom"}, timeout=120)
    assert hashlib.sha256(back.content).hexdigest() == sha, (
        "server bug: sending the same DICOM bytes again replaced the Binary's content "
        f"(GET Binary/{sha} now returns {len(back.content)} bytes: {back.content[:120]!r})")
