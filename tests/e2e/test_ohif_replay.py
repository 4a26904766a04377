"""The exact request sequence OHIF v3 (3.13.2, the viewer the example server serves) issues to list
and open a study, replayed without a browser against the server scripts/e2e.sh starts.

The URLs and Accept headers are copied from the browser's network log of
tests/browser/ohif-viewer.test.mjs (scripts/browser-test.sh writes it to
target/browser-test/dicomweb-requests.json): the study list with `limit=101`, wildcards,
`fuzzymatching`, a date range and `includefield`; the study by StudyInstanceUID; the series
searches; the patient's other studies; one metadata request per series; and frame 1 of each
instance with `transfer-syntax=*`. Each answer is checked for what OHIF reads from it."""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
import requests
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

from dicom_expect import TEST_STUDY_UID_PREFIX

DATA = Path(os.environ.get("DICOMFHIR_DATA", str(Path(__file__).resolve().parents[2] / ".data")))
SLICES = 4
DICOM_JSON = "application/dicom+json"
# What OHIF's dicomweb-client sends for frames (imageRendering 'wadors'), verbatim.
FRAMES_ACCEPT = "multipart/related; type=application/octet-stream; transfer-syntax=*"
# OHIF's study list asks for these on top of the defaults (also verbatim, comma as %2C).
STUDY_LIST_TAIL = "limit=101&offset=0&fuzzymatching=true&includefield=00081030%2C00080060%2C00080090%2C00100030"


@pytest.fixture(scope="module")
def base(base_url) -> str:
    return base_url + "/dicomweb"


@pytest.fixture(scope="module")
def study(base):
    """A CT series of SLICES instances (copies of CT_small with new UIDs and slice positions),
    uploaded as FHIR Binary like any DICOM file; UIDs under the tests' own prefix."""
    template = DATA / "pydicom" / "CT_small.dcm"
    if not template.is_file():
        pytest.fail("test corpus missing: run scripts/fetch-test-data.sh")
    study_uid = generate_uid(prefix=TEST_STUDY_UID_PREFIX)
    series_uid = generate_uid()
    run = study_uid.rsplit(".", 1)[-1][-8:]
    info = {
        "study": study_uid,
        "series": series_uid,
        "patient_id": f"REPLAY{run}",
        "family": f"OHIFREPLAY{run}",
        "instances": [],
    }
    fhir = base.rsplit("/dicomweb", 1)[0]
    for i in range(SLICES):
        ds = pydicom.dcmread(template)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID, ds.PatientName = info["patient_id"], f"{info['family']}^JANE"
        ds.StudyDescription, ds.SeriesDescription = "OHIF replay", "AXIAL"
        ds.InstanceNumber = i + 1
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 5 * i]
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        response = requests.post(f"{fhir}/Binary", data=buffer.getvalue(),
                                 headers={"Content-Type": "application/dicom"}, timeout=120)
        assert response.status_code in (200, 201), f"upload: {response.status_code} {response.text[:500]}"
        info["instances"].append({"sop": ds.SOPInstanceUID, "rows": ds.Rows, "columns": ds.Columns,
                                  "bits": ds.BitsAllocated, "pixels": bytes(ds.PixelData)})
    info["date"] = str(ds.StudyDate)
    return info


def get(base: str, path_and_query: str, accept: str) -> requests.Response:
    # The query string is sent as OHIF sends it (no re-encoding of `*`, `%2C`).
    response = requests.get(f"{base}/{path_and_query}", headers={"Accept": accept}, timeout=120)
    assert response.status_code == 200, (
        f"GET {path_and_query} (Accept: {accept}): {response.status_code} {response.text[:500]}")
    return response


def value(item: dict, tag: str):
    values = item.get(tag, {}).get("Value")
    return values[0] if values else None


def studies_with(response: requests.Response, study_uid: str) -> list[dict]:
    assert response.headers["Content-Type"].startswith(DICOM_JSON), response.headers["Content-Type"]
    return [s for s in response.json() if value(s, "0020000D") == study_uid]


def check_study_row(row: dict, study) -> None:
    """The fields OHIF's study list reads (extensions/default/src/DicomWebDataSource/qido.js)."""
    assert value(row, "00100020") == study["patient_id"]
    assert value(row, "00100010")["Alphabetic"].startswith(study["family"])
    assert value(row, "00080020") == study["date"]
    assert value(row, "00081030") == "OHIF replay"
    assert "CT" in row["00080061"]["Value"]
    assert int(value(row, "00201208")) == SLICES  # NumberOfStudyRelatedInstances
    assert "00080050" in row and "00080030" in row  # AccessionNumber, StudyTime: present, maybe empty


def split_multipart(response: requests.Response) -> list[tuple[dict, bytes]]:
    content_type = response.headers["Content-Type"]
    assert content_type.startswith("multipart/related"), content_type
    boundary = next(p.split("=", 1)[1].strip('"') for p in content_type.split(";")
                    if p.strip().startswith("boundary="))
    parts = []
    for chunk in response.content.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, body = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        headers = dict(line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line)
        parts.append(({k.strip().lower(): v.strip() for k, v in headers.items()}, body.removesuffix(b"\r\n")))
    return parts


def test_study_list_first_visit_lists_the_study(base, study):
    rows = studies_with(get(base, f"studies?{STUDY_LIST_TAIL}", DICOM_JSON), study["study"])
    assert len(rows) == 1
    check_study_row(rows[0], study)


def test_study_list_with_every_filter_finds_the_study(base, study):
    year = study["date"][:4]
    word = study["family"].lower()[2:-2]  # a piece of the name, lower case: *...* is a substring match
    query = (f"studies?PatientName=*{word}*&00100020=*{study['patient_id'][3:]}*&ModalitiesInStudy=CT"
             f"&{STUDY_LIST_TAIL}&StudyDate={year}0101-{year}1231")
    rows = studies_with(get(base, query, DICOM_JSON), study["study"])
    assert len(rows) == 1
    check_study_row(rows[0], study)


def test_study_list_filters_exclude_what_does_not_match(base, study):
    year = int(study["date"][:4])
    other_years = f"StudyDate={year + 1}0101-{year + 1}1231"
    assert studies_with(get(base, f"studies?PatientName=*{study['family'].lower()}*&{STUDY_LIST_TAIL}&{other_years}",
                            DICOM_JSON), study["study"]) == []
    assert studies_with(get(base, f"studies?PatientName=*{study['family'].lower()}*&ModalitiesInStudy=MR&{STUDY_LIST_TAIL}",
                            DICOM_JSON), study["study"]) == []


def test_study_by_uid_and_uid_list(base, study):
    rows = studies_with(get(base, f"studies?{STUDY_LIST_TAIL}&StudyInstanceUID={study['study']}", DICOM_JSON),
                        study["study"])
    assert len(rows) == 1
    # A UID list (backslash, URL-encoded as %5C): matches any of the UIDs.
    unknown = generate_uid(prefix=TEST_STUDY_UID_PREFIX)
    response = get(base, f"studies?{STUDY_LIST_TAIL}&StudyInstanceUID={unknown}%5C{study['study']}", DICOM_JSON)
    assert [value(s, "0020000D") for s in response.json()] == [study["study"]]


def test_series_searches_of_the_study_list_and_the_viewer(base, study):
    for includefield in ("0008103E%2C00080021", "00080021%2C00080031%2C0008103E%2C00200011"):
        response = get(base, f"studies/{study['study']}/series?includefield={includefield}", DICOM_JSON)
        series = response.json()
        assert [value(s, "0020000E") for s in series] == [study["series"]]
        assert value(series[0], "00080060") == "CT"
        assert value(series[0], "0008103E") == "AXIAL"
        assert int(value(series[0], "00201209")) == SLICES  # NumberOfSeriesRelatedInstances


def test_other_studies_of_the_patient(base, study):
    rows = studies_with(get(base, f"studies?00100020={study['patient_id']}&{STUDY_LIST_TAIL}", DICOM_JSON),
                        study["study"])
    assert len(rows) == 1


def test_series_metadata_then_frames_with_any_transfer_syntax(base, study):
    metadata = get(base, f"studies/{study['study']}/series/{study['series']}/metadata", DICOM_JSON).json()
    by_sop = {value(item, "00080018"): item for item in metadata}
    assert set(by_sop) == {i["sop"] for i in study["instances"]}
    for instance in study["instances"]:
        item = by_sop[instance["sop"]]
        # What cornerstone needs to build the image from the frame bytes.
        assert value(item, "00280010") == instance["rows"] and value(item, "00280011") == instance["columns"]
        assert value(item, "00200032") is not None and value(item, "00200037") is not None
        assert "BulkDataURI" in item["7FE00010"] or "InlineBinary" in item["7FE00010"]
        frame_path = f"studies/{study['study']}/series/{study['series']}/instances/{instance['sop']}/frames/1"
        parts = split_multipart(get(base, frame_path, FRAMES_ACCEPT))
        assert len(parts) == 1
        headers, body = parts[0]
        assert headers["content-type"].startswith("application/octet-stream"), headers
        assert "transfer-syntax=1.2.840.10008.1.2.1" in headers["content-type"].replace('"', ""), headers
        assert body == instance["pixels"]  # native pixel data: frame 1 is all of it, as stored


def test_compressed_multiframe_frames_as_stored(base):
    """OHIF opening a JPEG 2000 multi-frame instance: metadata, then frames 1..N one by one with
    `transfer-syntax=*`; each part is the stored codestream of that frame, labelled with its
    transfer syntax (cornerstone picks the decoder from it)."""
    source = DATA / "pydicom-data" / "emri_small_jpeg_2k_lossless.dcm"
    if not source.is_file():
        pytest.fail("test corpus missing: run scripts/fetch-test-data.sh")
    ds = pydicom.dcmread(source)
    ds.StudyInstanceUID = generate_uid(prefix=TEST_STUDY_UID_PREFIX)
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    fhir = base.rsplit("/dicomweb", 1)[0]
    response = requests.post(f"{fhir}/Binary", data=buffer.getvalue(),
                             headers={"Content-Type": "application/dicom"}, timeout=120)
    assert response.status_code in (200, 201), response.text[:500]

    series = f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
    (item,) = get(base, f"{series}/metadata", DICOM_JSON).json()
    frames = int(value(item, "00280008"))
    assert frames == int(ds.NumberOfFrames)
    expected = list(generate_frames(ds.PixelData, number_of_frames=frames))
    for number in range(1, frames + 1):
        parts = split_multipart(get(base, f"{series}/instances/{ds.SOPInstanceUID}/frames/{number}", FRAMES_ACCEPT))
        assert len(parts) == 1
        headers, body = parts[0]
        assert f"transfer-syntax={ds.file_meta.TransferSyntaxUID}" in headers["content-type"].replace('"', ""), headers
        assert body == expected[number - 1], f"frame {number}"
