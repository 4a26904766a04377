"""WADO-RS transcoding with a real client: `dicomweb-client` asks for Explicit VR Little Endian
(transfer-syntax=1.2.840.10008.1.2.1) and gets the decoded instance or frames; the pixels are
compared with pydicom's own decode of what was uploaded (pylibjpeg with its libjpeg and openjpeg
plugins, pinned in tests/requirements.txt): identical for lossless syntaxes, close for lossy ones.

dicomweb-client 0.61's retrieve_instance asks for `transfer-syntax=*` by default (as stored), so
the tests name Explicit VR Little Endian in media_types, as a viewer that cannot decode would."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid
from requests.exceptions import HTTPError

from dicom_expect import TEST_STUDY_UID_PREFIX
from dicom_instances import into_study

DATA = Path(os.environ.get("DICOMFHIR_DATA", str(Path(__file__).resolve().parents[2] / ".data")))
EVRLE = "1.2.840.10008.1.2.1"
AS_EVRLE = (("application/dicom", EVRLE),)
FRAMES_EVRLE = (("application/octet-stream", EVRLE),)

# One file per transfer syntax and photometric interpretation we decode, and whether it is lossless.
FILES = {
    "pydicom-data/emri_small_jpeg_2k_lossless.dcm": True,  # JPEG 2000 lossless, 10 frames
    "pydicom-data/US1_J2KI.dcm": False,  # JPEG 2000 lossy, YBR_ICT
    "pydicom-data/JPEG-LL.dcm": True,  # JPEG lossless process 14 SV1 (.70)
    "pydicom/SC_rgb_jpeg_gdcm.dcm": True,  # JPEG lossless SV1, RGB
    "pydicom/SC_rgb_jpeg_dcmtk.dcm": False,  # JPEG baseline, YBR_FULL (dcmtk)
    "pydicom/SC_rgb_dcmtk_+eb+cy+n2.dcm": False,  # JPEG baseline, YBR_FULL
    "pydicom/MR_small_jpeg_ls_lossless.dcm": True,  # JPEG-LS lossless
    "pydicom/MR_small_RLE.dcm": True,  # RLE, 16-bit signed
    "pydicom/SC_rgb_rle_2frame.dcm": True,  # RLE colour, 2 frames
    "pydicom-data/OBXXXX1A_rle.dcm": True,  # RLE PALETTE COLOR
    "pydicom/image_dfl.dcm": True,  # deflated: re-encoded, not decoded
    "pydicom-data/SC_rgb_expb.dcm": True,  # big endian: re-encoded
    "pydicom/JPGExtended.dcm": False,  # JPEG Extended 12-bit lossy (libjpeg-turbo in the core)
}
# 12-bit lossy JPEG whose codestream no decoder takes (pylibjpeg: "scan start must be zero ...")
UNDECODABLE = "pydicom/JPEG-lossy.dcm"


@pytest.fixture(scope="module")
def client(base_url) -> DICOMwebClient:
    return DICOMwebClient(url=f"{base_url}/dicomweb")


@pytest.fixture(scope="module")
def uploaded(client):
    """The corpus files as sent, as new instances of one new study."""
    missing = [f for f in [*FILES, UNDECODABLE] if not (DATA / f).is_file()]
    if missing:
        pytest.fail(f"test corpus missing ({missing}): run scripts/fetch-test-data.sh")
    study = generate_uid(prefix=TEST_STUDY_UID_PREFIX)
    out = {rel: into_study(pydicom.dcmread(DATA / rel), study, "E2E-TRANSCODE") for rel in [*FILES, UNDECODABLE]}
    response = client.store_instances([copy.deepcopy(ds) for ds in out.values()])
    assert "FailedSOPSequence" not in response, response
    return out


def reference_pixels(ds) -> np.ndarray:
    """pydicom's decode (pylibjpeg plugins), colour as pydicom presents it (YBR to RGB)."""
    return ds.pixel_array


def assert_pixels(rel: str, got: np.ndarray, want: np.ndarray, lossless: bool):
    assert got.shape == want.shape, rel
    if lossless:
        assert np.array_equal(got, want), f"{rel}: pixels differ"
    else:
        # independent lossy decoders (IDCT, upsampling) differ by a few levels at most
        diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
        assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 8, f"{rel}: mean {diff.mean()}, max {diff.max()}"


@pytest.mark.parametrize("rel", list(FILES))
def test_retrieve_instance_in_explicit_little_endian_has_the_references_pixels(client, uploaded, rel):
    sent = uploaded[rel]
    got = client.retrieve_instance(sent.StudyInstanceUID, sent.SeriesInstanceUID, sent.SOPInstanceUID, media_types=AS_EVRLE)
    assert got.file_meta.TransferSyntaxUID == EVRLE
    assert got.SOPInstanceUID == sent.SOPInstanceUID
    assert got.file_meta.MediaStorageSOPInstanceUID == sent.SOPInstanceUID
    # every attribute kept, but those the decoded pixels change
    changed = {"PixelData", "PhotometricInterpretation", "PlanarConfiguration", "LossyImageCompression"}
    for element in sent:
        if element.keyword not in changed:
            assert element.keyword in got or element.tag in got, f"{rel}: {element.keyword or element.tag} lost"
            assert got[element.tag] == element, f"{rel}: {element.keyword} changed"
    if sent.PhotometricInterpretation == "PALETTE COLOR":
        assert got.PhotometricInterpretation == "PALETTE COLOR"
    assert_pixels(rel, reference_pixels(got), reference_pixels(sent), FILES[rel])


def test_frames_in_explicit_little_endian_are_the_references_frames(client, uploaded):
    sent = uploaded["pydicom-data/emri_small_jpeg_2k_lossless.dcm"]
    want = reference_pixels(sent)  # (10, 64, 64) int16/uint16
    frames = client.retrieve_instance_frames(
        sent.StudyInstanceUID, sent.SeriesInstanceUID, sent.SOPInstanceUID, frame_numbers=[7, 1, 10], media_types=FRAMES_EVRLE
    )
    for n, data in zip((7, 1, 10), frames):
        assert np.array_equal(np.frombuffer(data, dtype=want.dtype.newbyteorder("<")).reshape(64, 64), want[n - 1]), n


def test_an_instance_we_cannot_decode_is_406_with_the_reason(client, uploaded):
    sent = uploaded[UNDECODABLE]
    with pytest.raises(HTTPError) as refused:
        client.retrieve_instance(sent.StudyInstanceUID, sent.SeriesInstanceUID, sent.SOPInstanceUID, media_types=AS_EVRLE)
    assert refused.value.response.status_code == 406
    assert "12-bit" in refused.value.response.text
    # as stored it is served
    got = client.retrieve_instance(sent.StudyInstanceUID, sent.SeriesInstanceUID, sent.SOPInstanceUID)
    assert got.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
