"""The DICOMweb facade with a real client: Python `dicomweb-client` (STOW, QIDO, WADO, frames,
bulk data) against the server scripts/e2e.sh starts. DICOMweb base: $DICOMFHIR_BASE_URL/dicomweb.

Uploads a few corpus files as new instances of one new study (new UIDs, so the test never
collides with the corpus upload of test_ingest.py), then reads them back with the client and
checks them against pydicom's reading of what was uploaded."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

from dicom_expect import TEST_STUDY_UID_PREFIX
from dicom_instances import into_study

DATA = Path(os.environ.get("DICOMFHIR_DATA", str(Path(__file__).resolve().parents[2] / ".data")))
FILES = {
    "ct": "pydicom/CT_small.dcm",  # native, one frame
    "mr_native": "pydicom-data/emri_small.dcm",  # native, 10 frames
    "mr_j2k": "pydicom-data/emri_small_jpeg_2k_lossless.dcm",  # JPEG 2000, 10 frames, one fragment each
    "j2k": "pydicom/JPEG2000.dcm",  # JPEG 2000, one frame
}
ANY_TS = (("application/octet-stream", "*"),)


def local(client, uri: str) -> str:
    """A BulkDataURI with the client's base. dicomweb-client 0.61 sends `Host` without the port
    (web.py: `headers['Host'] = self.host`), so the server, which builds its URLs from the Host
    header as it should, answers with port-less URLs; real browsers and OHIF send the port."""
    marker = "/studies/"
    return client.base_url + uri[uri.index(marker):]


@pytest.fixture(scope="module")
def client(base_url) -> DICOMwebClient:
    return DICOMwebClient(url=f"{base_url}/dicomweb")


@pytest.fixture(scope="module")
def uploaded(client):
    """The datasets as sent (new Study UID for all, new Series and SOP UIDs per file, one PatientID:
    dicom_instances.into_study)."""
    missing = [f for f in FILES.values() if not (DATA / f).is_file()]
    if missing:
        pytest.fail(f"test corpus missing ({missing}): run scripts/fetch-test-data.sh")
    # A prefix of its own, so the corpus tests can tell this study from the corpus' studies.
    study = generate_uid(prefix=TEST_STUDY_UID_PREFIX)
    out = {}
    for key, rel in FILES.items():
        out[key] = into_study(pydicom.dcmread(DATA / rel), study, "E2E-DICOMWEB")
    response = client.store_instances([copy.deepcopy(ds) for ds in out.values()])
    assert "FailedSOPSequence" not in response, response
    stored = {item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence}
    assert stored == {ds.SOPInstanceUID for ds in out.values()}
    return out


def uid(ds, keyword):
    return ds[keyword].value if keyword in ds else None


def test_search_for_studies_with_filters_and_includefield(client, uploaded):
    study = uploaded["ct"].StudyInstanceUID
    found = client.search_for_studies(search_filters={"StudyInstanceUID": study}, fields=["StudyDescription"])
    assert len(found) == 1
    result = pydicom.Dataset.from_json(found[0])
    assert result.StudyInstanceUID == study
    assert result.NumberOfStudyRelatedInstances == 4
    assert result.NumberOfStudyRelatedSeries == 4
    assert set(result.ModalitiesInStudy) == {ds.Modality for ds in uploaded.values()}
    assert "StudyDescription" in result
    # a wildcard and a UID list reach the same study
    listed = client.search_for_studies(search_filters={"StudyInstanceUID": f"1.2.3,{study}"})
    assert [pydicom.Dataset.from_json(s).StudyInstanceUID for s in listed] == [study]
    assert client.search_for_studies(search_filters={"StudyInstanceUID": study, "Modality": "XA"}) == []


def test_search_for_series_and_instances_with_limit_and_offset(client, uploaded):
    study = uploaded["ct"].StudyInstanceUID
    series = [pydicom.Dataset.from_json(s) for s in client.search_for_series(study)]
    assert {s.SeriesInstanceUID for s in series} == {ds.SeriesInstanceUID for ds in uploaded.values()}
    mr = client.search_for_series(study, search_filters={"Modality": "MR"})
    assert {pydicom.Dataset.from_json(s).SeriesInstanceUID for s in mr} == {
        ds.SeriesInstanceUID for ds in uploaded.values() if ds.Modality == "MR"
    }
    first = client.search_for_instances(study, limit=2, offset=0)
    rest = client.search_for_instances(study, limit=2, offset=2)
    assert len(first) == 2 and len(rest) == 2
    sops = {pydicom.Dataset.from_json(i).SOPInstanceUID for i in first + rest}
    assert sops == {ds.SOPInstanceUID for ds in uploaded.values()}
    frames = client.search_for_instances(
        study, search_filters={"SOPInstanceUID": uploaded["mr_j2k"].SOPInstanceUID}, fields=["NumberOfFrames"]
    )
    assert int(pydicom.Dataset.from_json(frames[0]).NumberOfFrames) == 10


def test_retrieve_study_and_instance(client, uploaded):
    study = uploaded["ct"].StudyInstanceUID
    retrieved = client.retrieve_study(study)
    assert {ds.SOPInstanceUID for ds in retrieved} == {ds.SOPInstanceUID for ds in uploaded.values()}
    for key, sent in uploaded.items():
        got = client.retrieve_instance(study, sent.SeriesInstanceUID, sent.SOPInstanceUID)
        assert got.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID, key
        assert got.PixelData == sent.PixelData, key
        # every data element as sent
        assert got == sent, key


def test_retrieve_series_metadata_and_its_bulk_data(client, uploaded):
    sent = uploaded["mr_j2k"]
    metadata = client.retrieve_series_metadata(sent.StudyInstanceUID, sent.SeriesInstanceUID)
    assert len(metadata) == 1
    uri = metadata[0]["7FE00010"]["BulkDataURI"]
    parts = client.retrieve_bulkdata(local(client, uri), media_types=ANY_TS)
    assert parts == list(generate_frames(sent.PixelData, number_of_frames=10))

    ct = uploaded["ct"]
    md = client.retrieve_instance_metadata(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    pixel = client.retrieve_bulkdata(local(client, md["7FE00010"]["BulkDataURI"]))
    assert pixel == [ct.PixelData]


def test_retrieve_instance_frames(client, uploaded):
    native = uploaded["mr_native"]
    size = native.Rows * native.Columns * native.BitsAllocated // 8
    frames = client.retrieve_instance_frames(
        native.StudyInstanceUID, native.SeriesInstanceUID, native.SOPInstanceUID, frame_numbers=[5, 1, 3]
    )
    assert frames == [native.PixelData[(n - 1) * size : n * size] for n in (5, 1, 3)]

    j2k = uploaded["mr_j2k"]
    expected = list(generate_frames(j2k.PixelData, number_of_frames=10))
    frames = client.retrieve_instance_frames(
        j2k.StudyInstanceUID, j2k.SeriesInstanceUID, j2k.SOPInstanceUID, frame_numbers=[2, 10], media_types=ANY_TS
    )
    assert frames == [expected[1], expected[9]]

    with pytest.raises(Exception) as missing:
        client.retrieve_instance_frames(
            j2k.StudyInstanceUID, j2k.SeriesInstanceUID, j2k.SOPInstanceUID, frame_numbers=[11], media_types=ANY_TS
        )
    assert "404" in str(missing.value)
