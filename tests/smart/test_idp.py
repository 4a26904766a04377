"""Contract of scripts/idp.sh: what the FHIR server and the other SMART tests rely on.

Every token of the realm: signed by the realm's key, iss = issuer, aud contains dicom-fhir, and a
`scope` claim with exactly the SMART scopes of its client; patient tokens carry the patient's
`patient_identifier`. Refusals: replayed or foreign Backend Services assertions, wrong secrets and
passwords, unregistered redirect URIs, a code exchanged without its PKCE verifier.
That `stop` really stops Keycloak (pid gone, port closed) is asserted by the `idp` fixture's
teardown (conftest.py), since every session ends with it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import tokens
from idp_process import run_idp

SYSTEM_SCOPES = {"system/*.cruds"}
SYSTEM_READ_SCOPES = {"system/*.rs"}
PATIENT_SCOPES = {"launch/patient", "patient/*.rs"}
SMART_PREFIXES = ("system/", "patient/", "user/", "launch")


def smart_scopes(token_claims: dict) -> set[str]:
    return {s for s in tokens.scopes(token_claims) if s.startswith(SMART_PREFIXES)}


def test_contract_matches_discovery(idp):
    issuer = urlsplit(idp["issuer"])
    assert issuer.hostname == "127.0.0.1" and issuer.path == "/realms/dicom"
    assert issuer.port == int(os.environ.get("IDP_PORT", "18180"))
    assert idp["audience"] == "dicom-fhir"
    config = requests.get(idp["issuer"] + "/.well-known/openid-configuration", timeout=10).json()
    assert config["issuer"] == idp["issuer"]
    assert config["token_endpoint"] == idp["token_endpoint"]
    assert config["jwks_uri"] == idp["jwks_uri"]
    assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]
    assert "RS384" in config["token_endpoint_auth_signing_alg_values_supported"]
    assert "S256" in config["code_challenge_methods_supported"]
    key = Path(idp["backend"]["private_key_pem"])
    assert key.is_absolute() and key.is_file() and idp["backend"]["alg"] == "RS384"
    assert idp["viewer"] == {"client_id": "dicom-viewer"}
    assert idp["patients"]["A"]["patient_identifier"] == "urn:dicom:patient-id|SMART-PATIENT-A"
    assert idp["patients"]["B"]["patient_identifier"] == "urn:dicom:patient-id|SMART-PATIENT-B"


def test_no_secret_is_reused_between_clients(idp):
    values = [idp["system"]["client_secret"], idp["system_read"]["client_secret"],
              idp["system_r"]["client_secret"], idp["system_s"]["client_secret"],
              idp["patients"]["A"]["password"], idp["patients"]["B"]["password"],
              idp["patients"]["A"].get("client_secret"), idp["introspection"]["client_secret"]]
    assert all(v and len(v) >= 32 for v in values)
    assert len(set(values)) == len(values)


def test_system_token(idp):
    c = tokens.verified_claims(idp, tokens.system_token(idp))
    assert c["iss"] == idp["issuer"]
    assert "dicom-fhir" in ([c["aud"]] if isinstance(c["aud"], str) else c["aud"])
    assert smart_scopes(c) == SYSTEM_SCOPES
    assert c["azp"] == idp["system"]["client_id"]
    assert "patient_identifier" not in c


def test_system_read_token_has_only_read_and_search(idp):
    c = tokens.verified_claims(idp, tokens.system_read_token(idp))
    assert smart_scopes(c) == SYSTEM_READ_SCOPES
    assert "patient_identifier" not in c


def test_read_only_and_search_only_tokens_have_one_letter(idp):
    """The matrix's r-only and s-only system clients: read by id without search, and the reverse."""
    assert smart_scopes(tokens.verified_claims(idp, tokens.system_r_token(idp))) == {"system/*.r"}
    assert smart_scopes(tokens.verified_claims(idp, tokens.system_s_token(idp))) == {"system/*.s"}


def test_system_read_client_cannot_ask_for_more(idp):
    form = {**tokens._client_credentials(idp["system_read"]), "scope": "system/*.cruds"}
    response = tokens.request_token(idp, **form)
    if response.status_code == 200:  # Keycloak may drop the scope instead of refusing
        assert smart_scopes(tokens.claims(response.json()["access_token"])) == SYSTEM_READ_SCOPES
    else:
        assert response.json()["error"] == "invalid_scope"


def test_backend_services_token(idp):
    c = tokens.verified_claims(idp, tokens.backend_token(idp))
    assert smart_scopes(c) == SYSTEM_SCOPES
    assert c["azp"] == idp["backend"]["client_id"]
    assert "dicom-fhir" in ([c["aud"]] if isinstance(c["aud"], str) else c["aud"])


def test_replayed_backend_assertion_is_refused(idp):
    assertion = tokens.client_assertion(idp)
    first = tokens.request_token(idp, **tokens.backend_form(idp, assertion))
    assert first.status_code == 200, first.text
    replay = tokens.request_token(idp, **tokens.backend_form(idp, assertion))
    assert replay.status_code in (400, 401) and replay.json()["error"] == "invalid_client", replay.text
    assert "access_token" not in replay.json()


def test_assertion_signed_by_another_key_is_refused(idp):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    response = tokens.request_token(idp, **tokens.backend_form(idp, tokens.client_assertion(idp, key_pem=other)))
    assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client", response.text


def test_assertion_for_another_audience_is_refused(idp):
    assertion = tokens.client_assertion(idp, audience="http://127.0.0.1:1/some/other/token")
    response = tokens.request_token(idp, **tokens.backend_form(idp, assertion))
    assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client", response.text


@pytest.mark.parametrize("which", ["A", "B"])
def test_patient_token(idp, which):
    c = tokens.verified_claims(idp, tokens.patient_token(idp, which))
    assert smart_scopes(c) == PATIENT_SCOPES
    assert c["patient_identifier"] == idp["patients"][which]["patient_identifier"]
    assert c["iss"] == idp["issuer"]


def test_patients_have_different_identifiers_and_subjects(idp):
    a = tokens.claims(tokens.patient_token(idp, "A"))
    b = tokens.claims(tokens.patient_token(idp, "B"))
    assert a["patient_identifier"] != b["patient_identifier"]
    assert a["sub"] != b["sub"]


def test_access_token_lifespan_is_configured(idp):
    response = tokens.request_token(idp, **tokens._client_credentials(idp["system"]))
    lifespan = int(os.environ.get("IDP_TOKEN_LIFESPAN", "300"))
    assert response.json()["expires_in"] == lifespan
    c = tokens.claims(response.json()["access_token"])
    assert c["exp"] - c["iat"] == lifespan


def test_wrong_password_is_refused(idp):
    form = {**tokens.patient_form(idp, "A"), "password": idp["patients"]["B"]["password"]}
    response = tokens.request_token(idp, **form)
    assert response.status_code in (400, 401) and response.json()["error"] == "invalid_grant", response.text
    assert "access_token" not in response.json()


def test_wrong_client_secret_is_refused(idp):
    form = {**tokens._client_credentials(idp["system"]), "client_secret": idp["system_read"]["client_secret"]}
    response = tokens.request_token(idp, **form)
    # RFC 6749 says invalid_client; Keycloak 26 answers unauthorized_client. Both are refusals.
    assert response.status_code == 401, response.text
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")
    assert "access_token" not in response.json()


def test_backend_client_cannot_use_a_secret(idp):
    form = {"grant_type": "client_credentials", "client_id": idp["backend"]["client_id"],
            "client_secret": idp["system"]["client_secret"]}
    response = tokens.request_token(idp, **form)
    assert response.status_code in (400, 401) and "access_token" not in response.json()


def test_introspection_by_the_fhir_server(idp):
    token = tokens.patient_token(idp, "A")
    intro = idp["introspection"]
    response = requests.post(intro["endpoint"], data={"token": token},
                             auth=(intro["client_id"], intro["client_secret"]), timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert PATIENT_SCOPES <= set(body["scope"].split())
    assert body["patient_identifier"] == idp["patients"]["A"]["patient_identifier"]
    assert body["client_id"] == idp["patients"]["A"]["client_id"]


# --- the viewer: authorization code + PKCE, as a browser-based OHIF does it ---------------------

def viewer_authorize(idp: dict, redirect_uri: str, challenge: str | None,
                     client_id: str | None = None) -> requests.Response:
    params = {"client_id": client_id or idp["viewer"]["client_id"], "response_type": "code", "scope": "openid",
              "redirect_uri": redirect_uri, "state": secrets.token_urlsafe(8)}
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    session = requests.Session()
    page = session.get(idp["authorization_endpoint"], params=params, timeout=10, allow_redirects=False)
    # Keycloak marks its login cookies Secure. Browsers send them to http://127.0.0.1 and
    # http://localhost (potentially trustworthy origins); requests does not, so act as a browser.
    for cookie in session.cookies:
        cookie.secure = False
    page.session = session
    return page


def viewer_login(idp: dict, which: str, redirect_uri: str, verifier: str | None,
                 client_id: str | None = None) -> str:
    """Logs patient `which` in through Keycloak's login form; returns the authorization code."""
    challenge = (base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                 if verifier else None)
    page = viewer_authorize(idp, redirect_uri, challenge, client_id)
    assert page.status_code == 200, page.text[:500]
    action = html.unescape(re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text).group(1))
    p = idp["patients"][which]
    done = page.session.post(action, data={"username": p["username"], "password": p["password"]},
                             allow_redirects=False, timeout=10)
    assert done.status_code == 302, done.text[:500]
    location = done.headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    return parse_qs(urlsplit(location).query)["code"][0]


@pytest.mark.parametrize("origin", ["http://127.0.0.1:3000", "http://localhost:8042"])
def test_viewer_login_with_pkce(idp, origin):
    redirect_uri = origin + "/callback"
    verifier = secrets.token_urlsafe(48)
    code = viewer_login(idp, "B", redirect_uri, verifier)
    response = requests.post(idp["token_endpoint"], timeout=10, headers={"Origin": origin}, data={
        "grant_type": "authorization_code", "client_id": idp["viewer"]["client_id"], "code": code,
        "redirect_uri": redirect_uri, "code_verifier": verifier})
    assert response.status_code == 200, response.text
    assert response.headers.get("Access-Control-Allow-Origin") == origin  # the browser can read it
    c = tokens.verified_claims(idp, response.json()["access_token"])
    assert PATIENT_SCOPES <= tokens.scopes(c)
    assert c["patient_identifier"] == idp["patients"]["B"]["patient_identifier"]


def test_viewer_code_without_verifier_is_refused(idp):
    redirect_uri = "http://127.0.0.1:3000/callback"
    code = viewer_login(idp, "A", redirect_uri, secrets.token_urlsafe(48))
    response = tokens.request_token(idp, grant_type="authorization_code", client_id=idp["viewer"]["client_id"],
                                    code=code, redirect_uri=redirect_uri)
    assert response.status_code == 400 and "access_token" not in response.json(), response.text


def test_viewer_requires_pkce(idp):
    page = viewer_authorize(idp, "http://127.0.0.1:3000/callback", challenge=None)
    assert 'id="kc-form-login"' not in page.text
    # Refused before any login: an error redirect back to the (registered) client.
    assert page.status_code == 302, page.status_code
    assert "error=invalid_request" in page.headers["Location"] and "code=" not in page.headers["Location"]


@pytest.mark.parametrize("redirect_uri", ["http://evil.example/callback",
                                          "http://127.0.0.1.evil.example/callback",
                                          "http://localhost:8042@evil.example/callback",
                                          "https://127.0.0.1:3000/callback"])
def test_viewer_refuses_foreign_redirect_uri(idp, redirect_uri):
    page = viewer_authorize(idp, redirect_uri, challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert page.status_code == 400 and 'id="kc-form-login"' not in page.text


def test_no_cors_for_foreign_origin(idp):
    response = requests.post(idp["token_endpoint"], headers={"Origin": "http://evil.example"}, timeout=10,
                             data=tokens.patient_form(idp, "A"))
    assert response.headers.get("Access-Control-Allow-Origin") in (None, "")


def test_second_start_is_refused_while_running(idp):
    again = run_idp("start", timeout=60)
    assert again.returncode == 2, again.stderr
    assert "already running" in again.stderr
    assert again.stdout.strip() == ""
    assert requests.get(idp["issuer"] + "/.well-known/openid-configuration", timeout=10).status_code == 200


def test_patient_cannot_rewrite_own_patient_identifier(idp):
    """A patient who logs in to Keycloak's own account console (every realm has one) and edits
    their profile through its API must not be able to become another patient."""
    a, b = idp["patients"]["A"], idp["patients"]["B"]
    account = idp["issuer"] + "/account/"
    verifier = secrets.token_urlsafe(48)
    code = viewer_login(idp, "A", account, verifier, client_id="account-console")
    login = tokens.request_token(idp, grant_type="authorization_code", client_id="account-console", code=code,
                                 redirect_uri=account, code_verifier=verifier)
    assert login.status_code == 200, login.text
    headers = {"Authorization": "Bearer " + login.json()["access_token"], "Accept": "application/json"}
    me = requests.get(account, headers=headers, timeout=10)
    if me.status_code == 200:  # today 401: the demo users lack the manage-account role
        rep = me.json()
        rep["attributes"] = {**rep.get("attributes", {}), "patient_identifier": [b["patient_identifier"]]}
        requests.post(account, json=rep, headers=headers, timeout=10)  # refused or ignored: see below
    assert tokens.claims(tokens.patient_token(idp, "A"))["patient_identifier"] == a["patient_identifier"]
