"""The stored data of the SMART matrix (tests/smart/test_matrix.py): single-instance studies made
from the pydicom corpus with a given PatientID and fresh UIDs, uploaded as the system.
(A module of its own: `conftest` is an ambiguous import name, see idp_process.py.)"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass

import pydicom
import requests
from pydicom.uid import generate_uid

from idp_process import ROOT

PATIENT_SYSTEM = "urn:dicom:patient-id"
DICOM_TAG = "http://dicomfhir.org/fhir/CodeSystem/tags|dicom"
# Single frame with pixel data (128x128, 16 bit): frames/1 and a pixel-data BulkDataURI exist.
TEMPLATE = ROOT / ".data" / "pydicom" / "CT_small.dcm"


@dataclass
class Study:
    """One stored single-instance study of a patient, and what identifies it."""
    patient_id: str          # DICOM PatientID
    study: str
    series: str
    sop: str
    data: bytes
    fhir_patient: str = ""   # the Patient the server made for it
    bulkdata_uri: str = ""   # a BulkDataURI of the instance's metadata, as the server wrote it

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def make_instance(patient_id: str, study: str | None = None) -> Study:
    """CT_small with the given PatientID and fresh UIDs (the given study UID if any)."""
    ds = pydicom.dcmread(TEMPLATE)
    ds.PatientID = patient_id
    ds.PatientName = f"SMART^{patient_id}"
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return Study(patient_id, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, buf.getvalue())


def upload(base: str, token: str, inst: Study) -> None:
    r = requests.post(f"{base}/Binary", data=inst.data, timeout=60,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/dicom"})
    assert r.status_code == 201, f"upload of {inst.patient_id}: {r.status_code} {r.text[:500]}"


def wait_for_study(base: str, token: str, inst: Study, deadline_s: float = 60) -> dict:
    """The ImagingStudy once the study writer has written it (it runs after the upload returns)."""
    end = time.monotonic() + deadline_s
    while True:
        r = requests.get(f"{base}/ImagingStudy/{inst.study}", timeout=30,
                         headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"})
        if r.status_code == 200:
            return r.json()
        assert time.monotonic() < end, f"ImagingStudy/{inst.study}: {r.status_code} {r.text[:300]}"
        time.sleep(0.2)
