"""The `dicom_fhir` module offline: read() against pydicom on the corpus, errors, stubs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydicom
import pytest

import dicom_fhir  # not installed: pip install ./rust/python (scripts/e2e.sh does); a missing module fails


def corpus_files(corpus: Path) -> list[Path]:
    """pydicom's test files and its character set files."""
    dirs = [corpus, corpus.parent / "pydicom-charset"]
    return sorted(p for d in dirs if d.is_dir() for p in d.rglob("*") if p.is_file())


def test_read_matches_pydicom_on_corpus(corpus):
    parsed = rejected = 0
    for path in corpus_files(corpus):
        data = path.read_bytes()
        try:
            inst = dicom_fhir.read(path)
        except ValueError as e:
            assert str(e).startswith(str(path)), e
            assert "not valid DICOM" in str(e)
            rejected += 1
            continue
        parsed += 1
        ds = pydicom.dcmread(path, force=True)
        assert inst.sha256 == hashlib.sha256(data).hexdigest(), path
        assert inst.size == len(data)
        assert inst.study_instance_uid == str(ds.StudyInstanceUID).rstrip("\0 "), path
        assert inst.series_instance_uid == str(ds.SeriesInstanceUID).rstrip("\0 "), path
        assert inst.sop_instance_uid == str(ds.SOPInstanceUID).rstrip("\0 "), path
        assert inst.sop_class_uid == str(ds.SOPClassUID).rstrip("\0 "), path
        assert inst.transfer_syntax_uid == str(ds.file_meta.TransferSyntaxUID).rstrip("\0 "), path
        assert isinstance(inst.problems, list)
    assert parsed > 50 and rejected > 0, (parsed, rejected)


def test_instance_views(ct_small):
    inst = dicom_fhir.read(ct_small)
    ds = pydicom.dcmread(ct_small)
    same = dicom_fhir.read(ct_small.read_bytes())
    assert same.sha256 == inst.sha256 and same.sop_instance_uid == inst.sop_instance_uid
    assert dicom_fhir.read(bytearray(ct_small.read_bytes())).sha256 == inst.sha256
    assert dicom_fhir.read(memoryview(ct_small.read_bytes())).sha256 == inst.sha256
    assert dicom_fhir.read(str(ct_small)).sha256 == inst.sha256

    dj = inst.dicom_json("http://x/instances/1")
    assert dj["0020000D"]["Value"] == [ds.StudyInstanceUID]
    assert dj["7FE00010"]["BulkDataURI"].startswith("http://x/instances/1/bulkdata/")
    study = inst.imaging_study()
    assert study["resourceType"] == "ImagingStudy"
    assert {"system": "urn:dicom:uid", "value": f"urn:oid:{ds.StudyInstanceUID}"} in study["identifier"]
    instance = study["series"][0]["instance"][0]
    assert instance["uid"] == ds.SOPInstanceUID
    binary = [e for e in instance["extension"]
              if e["url"] == "http://dicomfhir.org/fhir/StructureDefinition/instance-binary"]
    assert binary[0]["valueReference"]["reference"] == f"Binary/{inst.sha256}"
    patient = inst.patient()
    assert patient["resourceType"] == "Patient"
    assert inst.patient_identifier == patient["identifier"][0]
    assert inst.patient_identifier["value"] == ds.PatientID
    assert inst.to_dict()["sha256"] == inst.sha256
    assert "CT_small" not in repr(inst) and inst.sop_instance_uid in repr(inst)


def test_read_options(ct_small):
    inst = dicom_fhir.read(ct_small, patient_identifier_system="urn:example:mrn")
    assert inst.patient_identifier["system"] == "urn:example:mrn"


def test_read_errors(tmp_path):
    with pytest.raises(ValueError, match="not valid DICOM"):
        dicom_fhir.read(b"hello, not DICOM")
    with pytest.raises(FileNotFoundError):
        dicom_fhir.read(tmp_path / "missing.dcm")
    with pytest.raises(TypeError, match="path"):
        dicom_fhir.read(42)


def test_exceptions_hierarchy():
    assert issubclass(dicom_fhir.UploadError, dicom_fhir.DicomFhirError)
    assert issubclass(dicom_fhir.ServerError, dicom_fhir.DicomFhirError)
    assert issubclass(dicom_fhir.DicomFhirError, Exception)
    assert dicom_fhir.read.__doc__ and dicom_fhir.upload.__doc__


def test_upload_unreachable(ct_small):
    with pytest.raises(dicom_fhir.ServerError) as info:
        dicom_fhir.upload([ct_small], "http://127.0.0.1:9/fhir", timeout=5)
    assert info.value.kind == "unreachable"
    assert "unreachable" in str(info.value)


def test_stubs_cover_module():
    stub = Path(__file__).resolve().parents[2] / "rust" / "python" / "dicom_fhir.pyi"
    text = stub.read_text()
    for name in ("read", "upload", "verify", "Instance", "UploadError", "ServerError", "DicomFhirError"):
        assert hasattr(dicom_fhir, name)
        assert name in text
