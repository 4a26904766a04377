"""The authorization matrix: every FHIR and DICOMweb path of the server, against every kind of
token, on the example server in the smart profile with the real identity provider (Keycloak,
scripts/idp.sh). The policy is the EXPECTED table below (docs/security.md, "Tokens (SMART on
FHIR)" and "Who may read and change an instance"):

- a missing or bad token (garbage, alg none, HS256, another key under the issuer's kid, expired,
  another issuer): 401 with `WWW-Authenticate: Bearer ...` on every path;
- a valid token without the scope, or outside its patient: 403 (Argonaut: naming another
  patient is 403, not an empty Bundle);
- otherwise what the scope allows.

And, for patient A's token: no response (status line aside: body and headers, error messages
included) carries any of patient B's identifiers: PatientID, Study/Series/SOP Instance UIDs,
Binary SHA-256 or FHIR Patient id.

Stored data (fixture `stored`): one single-frame CT study of A and one of B. Deletes that the
token may do remove a fresh study of B made for that case, so every case sees the same data.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

import tokens
from smart_data import DICOM_TAG, PATIENT_SYSTEM, Study, make_instance, upload, wait_for_study

FHIR_JSON = "application/fhir+json"
DICOM_JSON = "application/dicom+json"
DICOM = "application/dicom"

BAD_TOKENS = ["none", "garbage", "alg-none", "hs256", "other-rsa-key", "expired", "other-issuer"]
GOOD_TOKENS = ["patient-A", "patient-B", "system-read", "system-write", "system-r", "system-s"]

# Expected status per path for the valid tokens; every bad token gets 401 on every path.
#   A = patient A's app (patient/*.rs, patient A), B = patient B's app (patient/*.rs, patient B),
#   R = system/*.rs, W = system/*.cruds, r = system/*.r only (read by id, vread; WADO is a read by
#   UID), s = system/*.s only (FHIR search, QIDO). Paths name B's resources unless they say otherwise.
EXPECTED: dict[str, dict[str, int]] = {
    # FHIR
    "fhir-ImagingStudy?patient=A":            {"patient-A": 200, "patient-B": 403, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "fhir-ImagingStudy?patient=B":            {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "fhir-ImagingStudy/B":                    {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    "fhir-ImagingStudy?_include=endpoint":    {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "fhir-Patient/B":                         {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    "fhir-Patient?identifier=B":              {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "fhir-Binary/B":                          {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    "fhir-Binary?_tag=dicom":                 {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "fhir-PUT-Binary/B":                      {"patient-A": 403, "patient-B": 403, "system-read": 403, "system-write": 200, "system-r": 403, "system-s": 403},
    "fhir-DELETE-Binary/B":                   {"patient-A": 403, "patient-B": 403, "system-read": 403, "system-write": 200, "system-r": 403, "system-s": 403},
    "fhir-$dicom-status":                     {"patient-A": 403, "patient-B": 403, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    # QIDO-RS: a search, narrowed to the token's patient like FHIR searches; a study of another
    # patient named in the path is not a patient parameter, so A gets 200 and an empty list
    # (asserted in test_matrix), as for a study that does not exist: no existence oracle either
    "qido-studies":                           {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "qido-studies/B/series":                  {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "qido-studies/B/series/B/instances":      {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "qido-studies/B/instances":               {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "qido-series":                            {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "qido-instances":                         {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    # a key the attribute index answers (A's and B's studies share CT_small's StationName): the
    # candidates may come from the parsed-study cache, with the same narrowing and rules
    "qido-series?StationName":                {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    "qido-instances?StationName":             {"patient-A": 200, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 403, "system-s": 200},
    # WADO-RS, WADO-URI
    "wado-study":                             {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    "wado-series":                            {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    "wado-instance":                          {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    "wado-study-metadata":                    {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    "wado-frames/1":                          {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    "wado-bulkdata":                          {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    # a JPEG of B's instance: the authorization first (A: 403), then the picture
    "wado-rendered":                          {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    "wado-uri":                               {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    "HEAD-wado-instance":                     {"patient-A": 403, "patient-B": 200, "system-read": 200, "system-write": 200, "system-r": 200, "system-s": 403},
    # STOW-RS, DICOMweb DELETE
    "stow-new-instance-of-A":                 {"patient-A": 403, "patient-B": 403, "system-read": 403, "system-write": 200, "system-r": 403, "system-s": 403},
    "stow-new-instance-of-B":                 {"patient-A": 403, "patient-B": 403, "system-read": 403, "system-write": 200, "system-r": 403, "system-s": 403},
    "dicomweb-DELETE-study-B":                {"patient-A": 403, "patient-B": 403, "system-read": 403, "system-write": 204, "system-r": 403, "system-s": 403},
}

DESTRUCTIVE = {"fhir-DELETE-Binary/B", "dicomweb-DELETE-study-B"}


# --- tokens -------------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _kc_base(idp: dict) -> str:
    return idp["issuer"].rsplit("/realms/", 1)[0]


def _admin_token(idp: dict) -> str:
    """A token of Keycloak's master realm (admin-cli, password grant): real, validly signed by
    the same Keycloak, but from another issuer."""
    password = (Path(idp["_run_dir"]) / "admin-password").read_text().strip()
    r = requests.post(f"{_kc_base(idp)}/realms/master/protocol/openid-connect/token", timeout=30,
                      data={"grant_type": "password", "client_id": "admin-cli", "username": "admin",
                            "password": password})
    assert r.status_code == 200, f"master realm token: {r.status_code} {r.text}"
    return r.json()["access_token"]


def _expired_system_token(idp: dict, base: str) -> str:
    """A real system/*.cruds token of the realm that has expired: the system client's access-token
    lifespan is set to 1 s through the admin REST API for one token, then restored; then the
    server (clock skew 0) is asked until it refuses the token."""
    admin = {"Authorization": f"Bearer {_admin_token(idp)}"}
    clients = f"{_kc_base(idp)}/admin/realms/dicom/clients"
    r = requests.get(clients, params={"clientId": idp["system"]["client_id"]}, headers=admin, timeout=30)
    assert r.status_code == 200 and r.json(), f"client lookup: {r.status_code} {r.text}"
    client = r.json()[0]
    original = dict(client.get("attributes") or {})
    short = dict(client, attributes=dict(original, **{"access.token.lifespan": "1"}))
    assert requests.put(f"{clients}/{client['id']}", json=short, headers=admin, timeout=30).status_code == 204
    try:
        token = tokens.system_token(idp)
    finally:
        # an attribute left out of a PUT is kept; an empty one is removed
        restored = dict(client, attributes=dict(original, **{"access.token.lifespan": original.get("access.token.lifespan", "")}))
        assert requests.put(f"{clients}/{client['id']}", json=restored, headers=admin, timeout=30).status_code == 204
    c = tokens.claims(token)
    assert c["exp"] - c["iat"] <= 2, f"lifespan not applied: {c['exp'] - c['iat']} s"
    deadline = time.monotonic() + 20
    while True:
        r = requests.get(f"{base}/ImagingStudy", params={"_count": "1"}, timeout=30,
                         headers={"Authorization": f"Bearer {token}", "Accept": FHIR_JSON})
        if r.status_code == 401:
            return token
        assert r.status_code == 200, f"expiring token: {r.status_code} {r.text[:300]}"
        assert time.monotonic() < deadline, "the server still accepts a token 20 s after its exp"
        time.sleep(0.2)


class Tokens:
    """Tokens by kind; valid ones are fetched again after two minutes (the realm's lifespan is 5)."""

    def __init__(self, idp: dict, base: str):
        self.idp, self.base = idp, base
        self._cache: dict[str, tuple[float, str]] = {}

    def _fresh(self, kind: str, make) -> str:
        at, token = self._cache.get(kind, (0.0, ""))
        if time.monotonic() - at > 120:
            token = make()
            self._cache[kind] = (time.monotonic(), token)
        return token

    def get(self, kind: str) -> str | None:
        idp = self.idp
        if kind == "none":
            return None
        if kind == "garbage":
            return "not-a-token.at-all"
        if kind == "patient-A":
            return self._fresh(kind, lambda: tokens.patient_token(idp, "A"))
        if kind == "patient-B":
            return self._fresh(kind, lambda: tokens.patient_token(idp, "B"))
        if kind == "system-read":
            return self._fresh(kind, lambda: tokens.system_read_token(idp))
        if kind == "system-write":
            return self._fresh(kind, lambda: tokens.system_token(idp))
        if kind == "system-r":
            return self._fresh(kind, lambda: tokens.system_r_token(idp))
        if kind == "system-s":
            return self._fresh(kind, lambda: tokens.system_s_token(idp))
        if kind == "expired":
            return self._fresh(kind, lambda: _expired_system_token(idp, self.base))
        if kind == "other-issuer":
            return self._fresh(kind, lambda: _admin_token(idp))
        # forgeries of a valid write token
        valid = self.get("system-write")
        header = jwt.get_unverified_header(valid)
        payload = tokens.claims(valid)
        if kind == "alg-none":
            head = dict(header, alg="none")
            return f"{_b64(json.dumps(head).encode())}.{valid.split('.')[1]}."
        if kind == "hs256":
            return jwt.encode(payload, "a-secret-the-server-never-heard-of", algorithm="HS256",
                              headers={"kid": header["kid"]})
        if kind == "other-rsa-key":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return jwt.encode(payload, key, algorithm=header["alg"], headers={"kid": header["kid"]})
        raise AssertionError(kind)


@pytest.fixture(scope="session")
def token_of(idp, smart_server):
    return Tokens(idp, smart_server.base).get


# --- requests -----------------------------------------------------------------------------------

def _stow_body(inst: Study) -> tuple[bytes, str]:
    boundary = f"matrix-{uuid.uuid4().hex}"
    body = (f"--{boundary}\r\nContent-Type: {DICOM}\r\n\r\n".encode() + inst.data
            + f"\r\n--{boundary}--\r\n".encode())
    return body, f'multipart/related; type="{DICOM}"; boundary={boundary}'


def _victim_of_b(base: str, system_token: str) -> Study:
    """A fresh study of patient B, for a delete that is expected to succeed."""
    inst = make_instance("SMART-PATIENT-B")
    upload(base, system_token, inst)
    wait_for_study(base, system_token, inst)
    return inst


def build_request(path: str, A: Study, B: Study) -> tuple[str, str, dict, bytes | None]:
    """(method, URL relative to the FHIR base, headers, body) of a path of the matrix."""
    web = "dicomweb"
    b_study = f"{web}/studies/{B.study}"
    b_series = f"{b_study}/series/{B.series}"
    b_instance = f"{b_series}/instances/{B.sop}"
    fhir = {"Accept": FHIR_JSON}
    if path == "fhir-ImagingStudy?patient=A":
        return "GET", f"ImagingStudy?patient=Patient/{A.fhir_patient}", fhir, None
    if path == "fhir-ImagingStudy?patient=B":
        return "GET", f"ImagingStudy?patient=Patient/{B.fhir_patient}", fhir, None
    if path == "fhir-ImagingStudy/B":
        return "GET", f"ImagingStudy/{B.study}", fhir, None
    if path == "fhir-ImagingStudy?_include=endpoint":
        return "GET", "ImagingStudy?_include=ImagingStudy:endpoint&_count=100", fhir, None
    if path == "fhir-Patient/B":
        return "GET", f"Patient/{B.fhir_patient}", fhir, None
    if path == "fhir-Patient?identifier=B":
        return "GET", f"Patient?identifier={PATIENT_SYSTEM}|{B.patient_id}", fhir, None
    if path == "fhir-Binary/B":
        return "GET", f"Binary/{B.sha256}", {"Accept": DICOM}, None
    if path == "fhir-Binary?_tag=dicom":
        return "GET", f"Binary?_tag={DICOM_TAG}&_count=100", fhir, None
    if path == "fhir-PUT-Binary/B":
        return "PUT", f"Binary/{B.sha256}", {"Content-Type": DICOM, **fhir}, B.data
    if path == "fhir-DELETE-Binary/B":
        return "DELETE", f"Binary/{B.sha256}", fhir, None
    if path == "fhir-$dicom-status":
        return "GET", "$dicom-status", fhir, None
    if path == "qido-studies":
        return "GET", f"{web}/studies", {"Accept": DICOM_JSON}, None
    if path == "qido-studies/B/series":
        return "GET", f"{b_study}/series", {"Accept": DICOM_JSON}, None
    if path == "qido-studies/B/series/B/instances":
        return "GET", f"{b_series}/instances", {"Accept": DICOM_JSON}, None
    if path == "qido-studies/B/instances":
        return "GET", f"{b_study}/instances", {"Accept": DICOM_JSON}, None
    if path == "qido-series":
        return "GET", f"{web}/series", {"Accept": DICOM_JSON}, None
    if path == "qido-instances":
        return "GET", f"{web}/instances", {"Accept": DICOM_JSON}, None
    if path == "qido-series?StationName":
        return "GET", f"{web}/series?StationName=CT01_OC0", {"Accept": DICOM_JSON}, None
    if path == "qido-instances?StationName":
        return "GET", f"{web}/instances?StationName=CT01_OC0", {"Accept": DICOM_JSON}, None
    multipart = {"Accept": f'multipart/related; type="{DICOM}"'}
    if path == "wado-study":
        return "GET", b_study, multipart, None
    if path == "wado-series":
        return "GET", b_series, multipart, None
    if path == "wado-instance":
        return "GET", b_instance, multipart, None
    if path == "wado-study-metadata":
        return "GET", f"{b_study}/metadata", {"Accept": DICOM_JSON}, None
    if path == "wado-frames/1":
        return "GET", f"{b_instance}/frames/1", {"Accept": 'multipart/related; type="application/octet-stream"'}, None
    if path == "wado-bulkdata":
        return "GET", B.bulkdata_uri, {"Accept": 'multipart/related; type="application/octet-stream"'}, None
    if path == "wado-rendered":
        return "GET", f"{b_instance}/rendered", {"Accept": "image/jpeg"}, None
    if path == "wado-uri":
        return ("GET", f"{web}?requestType=WADO&studyUID={B.study}&seriesUID={B.series}"
                f"&objectUID={B.sop}&contentType={DICOM}", {"Accept": DICOM}, None)
    if path == "HEAD-wado-instance":
        return "HEAD", b_instance, multipart, None
    if path in ("stow-new-instance-of-A", "stow-new-instance-of-B"):
        body, ctype = _stow_body(make_instance(A.patient_id if path.endswith("A") else B.patient_id))
        return "POST", f"{web}/studies", {"Content-Type": ctype, "Accept": DICOM_JSON}, body
    if path == "dicomweb-DELETE-study-B":
        return "DELETE", b_study, {}, None
    raise AssertionError(path)


def _secrets_of(inst: Study) -> list[str]:
    return [inst.patient_id, inst.study, inst.series, inst.sop, inst.sha256]


def leaks(response: requests.Response, B: Study) -> list[str]:
    """Which of B's identifiers appear in the response's body or headers."""
    body = response.content.decode("latin-1")
    if response.headers.get("Content-Type", "").startswith(FHIR_JSON):
        resource = response.json()
        if resource.get("resourceType") == "Bundle":
            # the self link repeats the caller's own query (Patient?identifier=<B's id>): an
            # echo of what A sent, not data of B; every other part of the Bundle is checked
            resource["link"] = [l for l in resource.get("link", []) if l.get("relation") != "self"]
            body = json.dumps(resource)
    text = body + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    found = [s for s in _secrets_of(B) if s in text]
    # the FHIR Patient id may be short (a number): look for it as an id, not as any substring
    if re.search(rf'Patient/{re.escape(B.fhir_patient)}\b|"id"\s*:\s*"{re.escape(B.fhir_patient)}"', text):
        found.append(f"Patient/{B.fhir_patient}")
    return found


def _around(text: str, found: list[str]) -> str:
    return " | ".join(text[max(0, i - 200):i + 100] for f in found for i in [text.find(f)] if i >= 0)


CASES = [(path, kind) for path in EXPECTED for kind in BAD_TOKENS + GOOD_TOKENS]


@pytest.mark.parametrize("path,kind", CASES, ids=[f"{p}-{k}" for p, k in CASES])
def test_matrix(path, kind, idp, smart_server, stored, token_of):
    base = smart_server.base
    A, B = stored.A, stored.B
    expected = 401 if kind in BAD_TOKENS else EXPECTED[path][kind]
    if path in DESTRUCTIVE and expected < 300:
        B = _victim_of_b(base, token_of("system-write"))
        B.fhir_patient = stored.B.fhir_patient
    method, url, headers, body = build_request(path, A, B)
    token = token_of(kind)
    if token is not None:
        headers = dict(headers, Authorization=f"Bearer {token}")
    full = url if url.startswith("http") else f"{base}/{url}"
    r = requests.request(method, full, headers=headers, data=body, timeout=60)

    assert r.status_code == expected, f"{method} {url} as {kind}: {r.status_code} {r.text[:400]}"
    if expected == 401:
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer "), r.headers
    if kind == "patient-A":
        found = leaks(r, stored.B)
        assert found == [], f"{method} {url}: B's identifiers {found} reached A: {r.headers} {_around(r.text, found)}"
    if kind == "patient-A" and path.startswith("qido-studies/B"):
        assert r.json() == [], f"{method} {url}: A got matches in B's study"
    if path in DESTRUCTIVE and expected >= 300:
        _assert_b_intact(base, token_of("system-write"), stored.B)
    if path in DESTRUCTIVE and expected < 300:
        gone = requests.get(f"{base}/Binary/{B.sha256}", timeout=30,
                            headers={"Authorization": f"Bearer {token_of('system-write')}", "Accept": DICOM})
        assert gone.status_code in (404, 410), f"the deleted Binary still answers {gone.status_code}"


def _assert_b_intact(base: str, system_token: str, B: Study) -> None:
    headers = {"Authorization": f"Bearer {system_token}", "Accept": DICOM}
    r = requests.get(f"{base}/Binary/{B.sha256}", headers=headers, timeout=30)
    assert r.status_code == 200 and r.content == B.data, f"B's Binary after a refused delete: {r.status_code}"
    r = requests.get(f"{base}/ImagingStudy/{B.study}", headers={**headers, "Accept": FHIR_JSON}, timeout=30)
    assert r.status_code == 200, f"B's study after a refused delete: {r.status_code}"


def test_patient_A_sees_only_A(idp, smart_server, stored, token_of):
    """The narrowed searches that answer 200 to A contain A's study and nothing of B's."""
    base, A = smart_server.base, stored.A
    auth = {"Authorization": f"Bearer {token_of('patient-A')}"}
    r = requests.get(f"{base}/dicomweb/studies", headers={**auth, "Accept": DICOM_JSON}, timeout=30)
    assert r.status_code == 200
    assert A.study in {s["0020000D"]["Value"][0] for s in r.json()}
    assert {s["00100020"]["Value"][0] for s in r.json()} == {A.patient_id}
    r = requests.get(f"{base}/ImagingStudy", headers={**auth, "Accept": FHIR_JSON}, timeout=30)
    assert r.status_code == 200
    studies = [e["resource"] for e in r.json().get("entry", [])]
    assert A.study in [s["id"] for s in studies]
    assert {s["subject"]["reference"] for s in studies} == {f"Patient/{A.fhir_patient}"}

