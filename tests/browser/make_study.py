#!/usr/bin/env python3
"""Writes the studies of the browser test, from the test corpus (scripts/fetch-test-data.sh):

- a CT series: SLICES copies of pydicom's CT_small.dcm (a real 128x128 16-bit CT image) as one new
  study and series, with new UIDs, consecutive InstanceNumber / ImagePositionPatient /
  SliceLocation, and pixel data shifted a little per slice so that the slices differ;
- a compressed multi-frame MR: pydicom-data's emri_small_jpeg_2k_lossless.dcm (10 frames, JPEG 2000
  lossless) as a new study of the same patient, so the viewer must decode JPEG 2000 frames that the
  server sends as stored (transfer-syntax=*).

Prints a JSON manifest (also written to OUT/manifest.json).

    python3 make_study.py DATA_DIR OUT [SLICES [PATIENT_ID]]

PATIENT_ID (default OHIF<timestamp>) names the patient, e.g. SMART-PATIENT-A for the login test
(scripts/browser-smart-test.sh): the studies then belong to the identity provider's patient A.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

# None: pydicom's "2.25.<UUID as integer>" UIDs, unique without a registered root.
UID_PREFIX = None


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    template = data / "pydicom" / "CT_small.dcm"
    slices = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    out.mkdir(parents=True, exist_ok=True)
    run = time.strftime("%Y%m%d%H%M%S")
    study_uid, series_uid = generate_uid(UID_PREFIX), generate_uid(UID_PREFIX)
    patient_id = sys.argv[4] if len(sys.argv) > 4 else f"OHIF{run}"
    patient_name = f"BROWSERTEST^{patient_id}"
    study_description = f"OHIF browser test {run}" if len(sys.argv) <= 4 else f"OHIF login test {patient_id} {run}"
    files = []
    for i in range(slices):
        ds = pydicom.dcmread(template)
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid(UID_PREFIX)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = patient_id
        ds.PatientName = patient_name
        ds.StudyDescription = study_description
        ds.SeriesDescription = f"AXIAL {slices} slices"
        ds.SeriesNumber = 1
        ds.InstanceNumber = i + 1
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        thickness = float(ds.get("SliceThickness", 5) or 5)
        ds.ImagePositionPatient = [x, y, round(z + i * thickness, 3)]
        ds.SliceLocation = round(z + i * thickness, 3)
        pixels = ds.pixel_array
        ds.PixelData = np.roll(pixels, i * 4, axis=0).astype(pixels.dtype).tobytes()
        path = out / f"slice{i + 1:02d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(str(path))
    mf = pydicom.dcmread(data / "pydicom-data" / "emri_small_jpeg_2k_lossless.dcm")
    mf.StudyInstanceUID, mf.SeriesInstanceUID = generate_uid(UID_PREFIX), generate_uid(UID_PREFIX)
    mf.SOPInstanceUID = generate_uid(UID_PREFIX)
    mf.file_meta.MediaStorageSOPInstanceUID = mf.SOPInstanceUID
    mf.PatientID, mf.PatientName = patient_id, patient_name
    mf.StudyDescription = f"OHIF browser test JPEG 2000 {run}"
    mf_path = out / "multiframe-j2k.dcm"
    mf.save_as(mf_path, enforce_file_format=True)
    manifest = {
        "studyInstanceUID": study_uid,
        "seriesInstanceUID": series_uid,
        "patientID": patient_id,
        "patientName": patient_name,
        "studyDescription": study_description,
        "studyDate": str(ds.StudyDate),
        "files": files,
        "multiframe": {
            "studyInstanceUID": mf.StudyInstanceUID,
            "seriesInstanceUID": mf.SeriesInstanceUID,
            "sopInstanceUID": mf.SOPInstanceUID,
            "transferSyntaxUID": str(mf.file_meta.TransferSyntaxUID),
            "frames": int(mf.NumberOfFrames),
            "file": str(mf_path),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
