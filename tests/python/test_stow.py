"""`dicom-fhir upload --stow` into the server's own STOW-RS facade (<fhir base>/dicomweb/studies),
checked on the server with FHIR reads: the Binaries, the ImagingStudy entries, the per-file
failure reasons of 202/409 answers (FailedSOPSequence), and that a rerun sends nothing."""

from __future__ import annotations

import hashlib
import json

import pydicom
import pytest
import requests
from pydicom.uid import generate_uid

from dicom_instances import into_study

# Different kinds of real corpus files: native, big endian, RLE, JPEG, JPEG 2000, multi-frame, RT.
CORPUS_FILES = [
    "CT_small.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle_2frame.dcm",
    "rtdose.dcm",
]
INSTANCE_BINARY = "http://dicomfhir.org/fhir/StructureDefinition/instance-binary"


def as_new_study(folder, sources, study=None):
    """The corpus files as new instances of one new study (new Series/SOP UIDs each), so this
    test's server state is its own, with one PatientID (dicom_instances.into_study). Returns
    (study uid, {path: sop uid})."""
    study = study or generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, source in enumerate(sources):
        ds = into_study(pydicom.dcmread(source), study, "STOW-TEST")
        path = folder / f"{i:02d}_{source.name}"
        ds.save_as(path)
        out[path] = ds.SOPInstanceUID
    return study, out


def binary_refs(imaging_study: dict) -> dict[str, str]:
    """SOP Instance UID -> 'Binary/<sha256>' of every instance entry."""
    refs = {}
    for series in imaging_study.get("series", []):
        for instance in series.get("instance", []):
            for ext in instance.get("extension", []):
                if ext["url"] == INSTANCE_BINARY:
                    refs[instance["uid"]] = ext["valueReference"]["reference"]
    return refs


def upload(run_cli, *args):
    r = run_cli("upload", *args)
    report_file = next((a for i, a in enumerate(args) if i and args[i - 1] == "--report"), None)
    return r, (json.loads(report_file.read_text()) if report_file else None)


@pytest.fixture
def corpus_files(corpus):
    return [corpus / name for name in CORPUS_FILES]


def test_stow_upload_stores_instances_and_rerun_sends_nothing(run_cli, base_url, fhir, corpus_files, tmp_path):
    folder = tmp_path / "study"
    study, sops = as_new_study(folder, corpus_files)
    (folder / "notes.txt").write_text("not DICOM")
    report_file = tmp_path / "stow.json"
    # 7 instances in requests of 3: three STOW-RS requests, two at a time
    r, report = upload(run_cli, folder, "--server", base_url, "--stow", "--stow-batch", "3", "--jobs", "2",
                       "--report", report_file)
    assert r.returncode == 0, r.stdout + r.stderr
    assert report["mode"] == "stow-rs" and "(stow-rs)" in r.stdout
    assert report["stored"] == len(sops) and not report["failed"], report
    assert [p["path"] for p in report["not_dicom"]] == [str(folder / "notes.txt")]

    # on the server: each file's bytes as Binary/<sha256>, listed in the study with that Binary
    resource = fhir.read(f"ImagingStudy/{study}")
    assert resource["numberOfInstances"] == len(sops)
    refs = binary_refs(resource)
    for path, sop in sops.items():
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert refs.get(sop) == f"Binary/{sha}", (path.name, refs.get(sop))
        back = requests.get(f"{base_url}/Binary/{sha}", headers={"Accept": "application/dicom"}, timeout=120)
        assert back.status_code == 200 and hashlib.sha256(back.content).hexdigest() == sha, path.name
    version = resource["meta"]["versionId"]

    # rerun: everything is already stored, nothing is sent, the study is not written again
    again_file = tmp_path / "again.json"
    r, again = upload(run_cli, folder, "--server", base_url, "--stow", "--report", again_file)
    assert r.returncode == 0, r.stdout + r.stderr
    assert again["skipped_existing"] == len(sops) and again["stored"] == 0 and again["bytes_sent"] == 0, again
    assert fhir.read(f"ImagingStudy/{study}")["meta"]["versionId"] == version

    # --no-resume sends the same bytes again: the facade answers 200 (stored once), no failure
    r, resent = upload(run_cli, folder, "--server", base_url, "--stow", "--no-resume", "--report", again_file)
    assert r.returncode == 0, r.stdout + r.stderr
    assert resent["stored"] == len(sops) and not resent["failed"], resent
    assert fhir.read(f"ImagingStudy/{study}")["numberOfInstances"] == len(sops)

    r = run_cli("verify", "--server", base_url, "--study", study)
    assert r.returncode == 0 and "clean" in r.stdout, r.stdout + r.stderr


def test_stow_failures_are_reported_per_file(run_cli, base_url, fhir, corpus_files, tmp_path):
    """One request with an instance already stored with other bytes (B00E) among new ones: 202,
    the new ones stored, only the conflicting file failed, with the server's reason. A request
    with only conflicting files: 409, each file failed."""
    study, first = as_new_study(tmp_path / "first", corpus_files[:2])
    r = run_cli("upload", tmp_path / "first", "--server", base_url, "--stow")
    assert r.returncode == 0, r.stdout + r.stderr

    mixed = tmp_path / "mixed"
    _, new = as_new_study(mixed, corpus_files[2:4], study=study)
    conflicting = mixed / "zz_conflict.dcm"
    stored_path, stored_sop = next(iter(first.items()))
    ds = pydicom.dcmread(stored_path)
    ds.PatientName = "Other^Bytes"  # same SOP Instance UID, other bytes
    ds.save_as(conflicting)
    report_file = tmp_path / "mixed.json"
    r, report = upload(run_cli, mixed, "--server", base_url, "--stow", "--stow-batch", "10", "--report", report_file)
    assert r.returncode == 1, r.stdout + r.stderr
    assert report["stored"] == 2, report
    assert [f["path"] for f in report["failed"]] == [str(conflicting)], report
    reason = report["failed"][0]["reason"]
    assert "B00E" in reason and "already stored with other bytes" in reason, reason
    assert f"{conflicting}: {reason}" in r.stdout
    resource = fhir.read(f"ImagingStudy/{study}")
    assert set(binary_refs(resource)) == set(first.values()) | set(new.values())
    stored_sha = hashlib.sha256(stored_path.read_bytes()).hexdigest()
    assert binary_refs(resource)[stored_sop] == f"Binary/{stored_sha}"

    only = tmp_path / "only-conflicts"
    only.mkdir()
    for i, path in enumerate(first):
        ds = pydicom.dcmread(path)
        ds.PatientName = f"Other^Bytes{i}"
        ds.save_as(only / path.name)
    r, report = upload(run_cli, only, "--server", base_url, "--stow", "--report", tmp_path / "only.json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert report["stored"] == 0 and len(report["failed"]) == 2, report
    assert all("B00E" in f["reason"] for f in report["failed"]), report


def test_stow_and_binary_mode_agree_on_the_corpus(run_cli, base_url, corpus, tmp_path):
    """The whole corpus as it is: POST Binary first (resumable, so cheap when already stored), then
    every file again with STOW-RS. Both modes fail the same invalid DICOM files before sending
    anything, and the files STOW-RS refuses are exactly those POST Binary refuses (same SOP
    Instance UID stored with other bytes), each with a B00E reason."""
    r, binary = upload(run_cli, corpus, "--server", base_url, "--report", tmp_path / "binary.json")
    assert r.returncode == (1 if binary["failed"] else 0), r.stdout + r.stderr
    r, stow = upload(run_cli, corpus, "--server", base_url, "--stow", "--no-resume", "--stow-batch", "16",
                     "--report", tmp_path / "stow.json")
    assert r.returncode == (1 if stow["failed"] else 0), r.stdout + r.stderr
    assert stow["instances"] == binary["instances"] > 50
    assert stow["not_dicom"] == binary["not_dicom"]
    assert sorted(f["path"] for f in stow["failed"]) == sorted(f["path"] for f in binary["failed"])
    invalid = [f for f in stow["failed"] if f["reason"].startswith("invalid DICOM: ")]
    assert invalid == [f for f in binary["failed"] if f["reason"].startswith("invalid DICOM: ")]
    assert any(f["path"].endswith("MR_truncated.dcm") for f in invalid), invalid
    refused = [f for f in stow["failed"] if f not in invalid]
    for failure in refused:
        assert "B00E" in failure["reason"], failure
    assert stow["stored"] + len(refused) == stow["instances"]
