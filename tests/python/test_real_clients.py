"""What real clients send and read, against the default example server (DICOMFHIR_BASE_URL,
started by scripts/e2e.sh with no extra settings): OHIF 3.13's study list on a study without
Modality, query strings as curl, a browser address bar or a shell script send them (raw `^ | [ ] { }`),
and CORS as a viewer on another origin needs it."""

from __future__ import annotations

import http.client
import json
from io import BytesIO
from urllib.parse import urlsplit

import pydicom
import pytest
import requests
from pydicom.uid import generate_uid

VIEWER_ORIGIN = "https://viewer.example.org"


def upload(base_url: str, ds: pydicom.Dataset) -> None:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    r = requests.post(f"{base_url}/Binary", data=buffer.getvalue(), headers={"Content-Type": "application/dicom"},
                      timeout=120)
    assert r.status_code in (200, 201), f"upload: {r.status_code} {r.text[:500]}"


def ohif_modalities(study: dict) -> str:
    """OHIF 3.13.2's study list reading of a QIDO study (platform/core DICOMWeb.getModalities then
    getString, as in its app bundle): the same steps, so an answer OHIF cannot read raises here too."""
    modality, in_study = study.get("00080060"), study.get("00080061")
    if not modality and not in_study:
        return ""
    modalities = modality or {"vr": "CS", "Value": []}
    modalities["Value"] = modalities.get("Value") or []
    if in_study:
        if modalities.get("vr") and modalities["vr"] == in_study.get("vr"):
            for value in in_study["Value"]:  # OHIF: ModalitiesInStudy.Value.length (TypeError when absent)
                if value not in modalities["Value"]:
                    modalities["Value"].append(value)
        else:
            modalities = in_study
    return "\\".join(modalities.get("Value") or [])


@pytest.fixture(scope="module")
def study_without_modality(base_url, ct_small) -> dict:
    ds = pydicom.dcmread(ct_small)
    del ds.Modality
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    run = ds.StudyInstanceUID[-8:]
    ds.PatientID, ds.PatientName = f"NOMOD{run}", f"NOMODALITY{run}^ANN"
    upload(base_url, ds)
    return {"study": ds.StudyInstanceUID, "patient_id": ds.PatientID, "family": f"NOMODALITY{run}"}


def test_ohif_study_list_reads_a_study_without_modality(base_url, study_without_modality):
    # The study list query OHIF 3.13 sends (tests/e2e/test_ohif_replay.py has the whole sequence).
    query = (f"studies?PatientName=*{study_without_modality['family']}*&limit=101&offset=0&fuzzymatching=true"
             "&includefield=00081030%2C00080060%2C00080090%2C00100030")
    r = requests.get(f"{base_url}/dicomweb/{query}", headers={"Accept": "application/dicom+json"}, timeout=120)
    assert r.status_code == 200, r.text[:500]
    studies = r.json()
    assert [s["0020000D"]["Value"][0] for s in studies] == [study_without_modality["study"]]
    for attr in studies[0].values():  # PS3.18 F.2.2: an attribute with no value has no "Value"; never []
        assert attr.get("Value", ["x"]) != [], studies[0]
    assert ohif_modalities(studies[0]) == ""
    # the series query still says the series has no Modality (the form of PS3.18 F.2.2)
    r = requests.get(f"{base_url}/dicomweb/studies/{study_without_modality['study']}/series",
                     headers={"Accept": "application/dicom+json"}, timeout=120)
    assert r.status_code == 200, r.text[:500]
    assert r.json()[0].get("00080060", {"vr": "CS"}) == {"vr": "CS"}


def test_ohif_study_list_reads_studies_with_modality_as_before(base_url, ct_small):
    ds = pydicom.dcmread(ct_small)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    upload(base_url, ds)
    r = requests.get(f"{base_url}/dicomweb/studies?StudyInstanceUID={ds.StudyInstanceUID}"
                     "&includefield=00081030%2C00080060", headers={"Accept": "application/dicom+json"}, timeout=120)
    assert r.status_code == 200, r.text[:500]
    assert r.json()[0]["00080061"] == {"vr": "CS", "Value": ["CT"]}
    assert ohif_modalities(r.json()[0]) == "CT"


def raw_get(base_url: str, path_and_query: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """GET with the request line exactly as given: http.client sends the bytes unencoded, as curl,
    a browser address bar or a shell script does (requests would %-encode them)."""
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    try:
        conn.putrequest("GET", f"{url.path}/{path_and_query}", skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("query", [
    "PatientName=doe^john",
    "PatientName=doe^john&AccessionNumber=A|B",
    "PatientID=[x]",
    "PatientID={x}",
    "StudyInstanceUID=1.2.3\\1.2.4",
])
def test_raw_query_characters_reach_the_facade(base_url, query):
    status, headers, body = raw_get(base_url, f"dicomweb/studies?{query}", {"Accept": "application/dicom+json"})
    assert status == 200, body[:500]
    assert headers["content-type"].startswith("application/dicom+json")
    assert isinstance(json.loads(body), list)


def test_raw_caret_matches_a_person_name(base_url, study_without_modality):
    family = study_without_modality["family"]
    status, _, body = raw_get(base_url, f"dicomweb/studies?PatientName={family}^ANN",
                              {"Accept": "application/dicom+json"})
    assert status == 200, body[:500]
    assert [s["0020000D"]["Value"][0] for s in json.loads(body)] == [study_without_modality["study"]]


def test_raw_query_characters_reach_fhir_search(base_url):
    status, _, body = raw_get(base_url, "Patient?identifier=urn:dicom:patient-id|NOSUCH^[1]{2}",
                              {"Accept": "application/fhir+json"})
    assert status == 200, body[:500]
    assert json.loads(body)["resourceType"] == "Bundle"


# ---------------------------------------------------------------------- CORS, on by default


@pytest.mark.parametrize("path", ["dicomweb/studies", "Patient", "ImagingStudy", "Binary"])
def test_cors_preflight_is_answered_by_default(base_url, path):
    r = requests.options(f"{base_url}/{path}", headers={
        "Origin": VIEWER_ORIGIN, "Access-Control-Request-Method": "POST" if path == "Binary" else "GET",
        "Access-Control-Request-Headers": "authorization, content-type"}, timeout=60)
    assert r.status_code in (200, 204), r.text[:300]
    assert r.headers.get("Access-Control-Allow-Origin") == VIEWER_ORIGIN
    allowed_headers = r.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "GET" in r.headers.get("Access-Control-Allow-Methods", "")


@pytest.mark.parametrize("path", ["dicomweb/studies?limit=1", "Patient?_count=1", "metadata"])
def test_cross_origin_get_exposes_what_a_viewer_reads(base_url, path):
    r = requests.get(f"{base_url}/{path}", headers={"Origin": VIEWER_ORIGIN}, timeout=120)
    assert r.status_code == 200, r.text[:300]
    assert r.headers.get("Access-Control-Allow-Origin") == VIEWER_ORIGIN
    exposed = {h.strip().lower() for h in r.headers.get("Access-Control-Expose-Headers", "").split(",")}
    assert {"location", "etag", "content-type"} <= exposed, exposed


def test_cross_origin_upload_exposes_location(base_url, ct_small):
    ds = pydicom.dcmread(ct_small)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    r = requests.post(f"{base_url}/Binary", data=buffer.getvalue(), timeout=120,
                      headers={"Content-Type": "application/dicom", "Origin": VIEWER_ORIGIN})
    assert r.status_code == 201, r.text[:300]
    assert r.headers.get("Access-Control-Allow-Origin") == VIEWER_ORIGIN
    assert "location" in r.headers.get("Access-Control-Expose-Headers", "").lower()
    assert "/Binary/" in r.headers["Location"]
