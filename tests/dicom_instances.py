"""Fresh DICOM instances made from the pydicom test corpus, for every suite that uploads its own
(tests/adversarial with its crash and memory drivers, tests/cluster, tests/e2e, tests/python).
No pytest here, so the standalone drivers can import it too; tests/conftest.py puts this folder on
sys.path for the suites."""

from __future__ import annotations

import functools
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid


def data_dir() -> Path:
    return Path(os.environ.get("DICOMFHIR_DATA", str(Path(__file__).resolve().parents[1] / ".data")))


@functools.lru_cache(maxsize=8)
def template_bytes(name: str = "CT_small.dcm") -> bytes:
    path = data_dir() / "pydicom" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run scripts/fetch-test-data.sh")
    return path.read_bytes()


@dataclass(frozen=True)
class Instance:
    study: str
    series: str
    sop: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def make_instance(study: str | None = None, series: str | None = None, sop: str | None = None,
                  template: str = "CT_small.dcm", **attributes) -> Instance:
    """A new Part-10 instance: the template with the given (else fresh) Study/Series/SOP Instance
    UIDs and the given attributes set by keyword (value None deletes the attribute)."""
    ds = pydicom.dcmread(io.BytesIO(template_bytes(template)))
    study = study or generate_uid()
    series = series or generate_uid()
    sop = sop or generate_uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.SOPInstanceUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    # SpecificCharacterSet first, so that a non-ASCII value set after it is encoded with it.
    if "SpecificCharacterSet" in attributes:
        ds.SpecificCharacterSet = attributes.pop("SpecificCharacterSet")
    for keyword, value in attributes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return Instance(study, series, sop, buf.getvalue())


def into_study(ds: Dataset, study: str, patient_id: str) -> Dataset:
    """`ds` (changed in place and returned) as a new instance of `study`: fresh Series and SOP
    Instance UIDs, and the one PatientID the study has (the server refuses an instance of a study
    naming another patient: docs/security.md), without an issuer that could name another one."""
    ds.StudyInstanceUID = study
    ds.PatientID = patient_id
    for issuer in ("IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence"):
        if issuer in ds:
            del ds[issuer]
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds
