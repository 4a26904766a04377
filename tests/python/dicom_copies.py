"""Copies of a DICOM file as new instances of one study (new Series and SOP Instance UIDs), so a
test or a benchmark run stores instances of its own. Used by conftest.py and bench_upload.py."""

from __future__ import annotations

import copy
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid


def write_copies(source: Path, folder: Path, n: int, study_uid: str | None = None) -> tuple[list[Path], str]:
    """Writes n copies of `source` into `folder` (one new series); returns (paths, study uid)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(source)
    study, series = study_uid or generate_uid(), generate_uid()
    paths = []
    for i in range(n):
        ds = copy.deepcopy(base)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        path = folder / f"img{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths, study
