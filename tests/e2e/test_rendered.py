"""Rendered images with a real client: dicomweb-client's `retrieve_series_rendered` and
`retrieve_instance_rendered` against a reference rendering made here, independently of the
server's core: pydicom's pixels (pylibjpeg plugins), the modality LUT, then min-max (neither file
has a window), 0-255. Pearson correlation >= 0.99 for PNG, >= 0.95 for JPEG (issue 15).

dicomweb-client 0.61 returns a study's or series' rendered answer as the raw multipart body; the
parts are cut here by their Content-Length and matched to instances by Content-Location."""

from __future__ import annotations

import copy
import io
import os
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.uid import generate_uid

from dicom_expect import TEST_STUDY_UID_PREFIX
from dicom_instances import into_study

DATA = Path(os.environ.get("DICOMFHIR_DATA", str(Path(__file__).resolve().parents[2] / ".data")))
# one series: a 16-bit CT and a 12-bit lossy JPEG (JPEG Extended, decoded by libjpeg-turbo in the core)
FILES = ["pydicom/CT_small.dcm", "pydicom/JPGExtended.dcm"]


@pytest.fixture(scope="module")
def client(base_url) -> DICOMwebClient:
    return DICOMwebClient(url=f"{base_url}/dicomweb")


@pytest.fixture(scope="module")
def series(client):
    missing = [f for f in FILES if not (DATA / f).is_file()]
    if missing:
        pytest.fail(f"test corpus missing ({missing}): run scripts/fetch-test-data.sh")
    study = generate_uid(prefix=TEST_STUDY_UID_PREFIX)
    series_uid = generate_uid()
    sent = []
    for rel in FILES:
        ds = into_study(pydicom.dcmread(DATA / rel), study, "E2E-RENDERED")
        ds.SeriesInstanceUID = series_uid
        sent.append(ds)
    response = client.store_instances([copy.deepcopy(ds) for ds in sent])
    assert "FailedSOPSequence" not in response, response
    return {ds.SOPInstanceUID: ds for ds in sent}


def reference(ds) -> np.ndarray:
    pixels = ds.pixel_array.astype(np.float64)
    pixels = pixels * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    lo, hi = pixels.min(), pixels.max()
    return (pixels - lo) / max(hi - lo, 1) * 255


def pearson(image: bytes, want: np.ndarray) -> float:
    got = np.asarray(Image.open(io.BytesIO(image)).convert("L"), dtype=np.float64)
    assert got.shape == want.shape
    return float(np.corrcoef(got.ravel(), want.ravel())[0, 1])


def parts(body: bytes) -> list[tuple[str, bytes]]:
    """(Content-Location, content) of each part of a multipart body, cut by Content-Length."""
    boundary = body[: body.index(b"\r\n")]
    out, pos = [], 0
    while body.startswith(boundary, pos) and not body.startswith(boundary + b"--", pos):
        head_end = body.index(b"\r\n\r\n", pos)
        head = body[pos:head_end].decode("ascii")
        length = int(re.search(r"Content-Length: (\d+)", head).group(1))
        location = re.search(r"Content-Location: (\S+)", head).group(1)
        start = head_end + 4
        out.append((location, body[start : start + length]))
        pos = start + length + 2
    return out


@pytest.mark.parametrize("media_type, bar", [("image/png", 0.99), ("image/jpeg", 0.95)])
def test_a_rendered_series_is_every_instance_like_the_reference(client, series, media_type, bar):
    first = next(iter(series.values()))
    body = client.retrieve_series_rendered(first.StudyInstanceUID, first.SeriesInstanceUID, media_types=(media_type,))
    got = parts(body)
    assert len(got) == len(series)
    for location, image in got:
        sop = location.split("/instances/")[1].split("/")[0]
        r = pearson(image, reference(series[sop]))
        assert r >= bar, f"{series[sop].file_meta.TransferSyntaxUID}: Pearson {r}"


def test_a_rendered_instance_is_like_the_reference(client, series):
    for sop, ds in series.items():
        image = client.retrieve_instance_rendered(
            ds.StudyInstanceUID, ds.SeriesInstanceUID, sop, media_types=("image/png",)
        )
        r = pearson(image, reference(ds))
        assert r >= 0.99, f"{ds.file_meta.TransferSyntaxUID}: Pearson {r}"
