"""SMART Backend Services in the `dicom_fhir` module and the `dicom-fhir` CLI, without a real
server: the `smart_*=` options / `--smart-*` flags are accepted, careless combinations and key
files give clear errors, a refusing token endpoint shows its OAuth error (never the signed
assertion), and an upload runs with a token fetched from a loopback stand-in for an IdP and a
FHIR server that checks it. (Keycloak end to end: with scripts/idp.sh.)"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from urllib.parse import parse_qs

import pytest

import dicom_fhir
from fake_http import AnsweringHandler, loopback, outcome

CLIENT = "dicom-backend"


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("smart-keys")

    def openssl(*args: str) -> None:
        r = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True)
        assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr}"

    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem")
    openssl("pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub.pem")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "ec.pem")
    return {"rsa": folder / "rsa.pem", "public": folder / "rsa.pub.pem", "ec": folder / "ec.pem"}


@pytest.fixture(autouse=True)
def no_auth_env(monkeypatch):
    for name in ("DICOMFHIR_TOKEN", "DICOMFHIR_SMART_CLIENT_ID", "DICOMFHIR_SMART_KEY",
                 "DICOMFHIR_SMART_TOKEN_URL", "DICOMFHIR_SMART_SCOPE", "DICOMFHIR_SMART_ALG",
                 "DICOMFHIR_SMART_KID"):
        monkeypatch.delenv(name, raising=False)


def jwt_part(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class IdpAndFhir:
    """Loopback: /fhir/.well-known/smart-configuration, /token (issues `token-N`, or answers
    `refuse` = (status, body)), and a FHIR server with the plugin that answers 401 without a
    token it issued. Records the token requests' forms and the FHIR requests' Authorization."""

    def __init__(self, refuse: tuple[int, dict | str] | None = None):
        self.token_forms: list[dict[str, str]] = []
        self.authorization: list[str | None] = []
        issued: set[str] = set()
        idp = self

        class Handler(AnsweringHandler):
            json_type = "application/json"

            def do_GET(self):
                if self.path == "/fhir/.well-known/smart-configuration":
                    return self.answer(200, {"token_endpoint": f"{idp.root}/token",
                                             "token_endpoint_auth_methods_supported": ["private_key_jwt"]})
                self.fhir(b"")

            def do_POST(self):
                body = self.body()
                if self.path == "/token":
                    idp.token_forms.append({k: v[0] for k, v in parse_qs(body.decode()).items()})
                    if refuse:
                        return self.answer(*refuse)
                    token = f"token-{len(idp.token_forms)}"
                    issued.add(token)
                    return self.answer(200, {"access_token": token, "token_type": "bearer", "expires_in": 300})
                self.fhir(body)

            def fhir(self, body):
                auth = self.headers.get("Authorization")
                idp.authorization.append(auth)
                if not auth or auth.removeprefix("Bearer ") not in issued:
                    return self.answer(401, outcome("login", "no valid token"))
                if self.path == "/fhir/Binary" and self.command == "POST":
                    return self.answer_stored(body, idp.root)
                self.answer_plugin_get()

        self.server, self.url = loopback(Handler)
        self.root = self.url.removesuffix("/fhir")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def server_error(call) -> dicom_fhir.ServerError:
    with pytest.raises(dicom_fhir.ServerError) as info:
        call()
    return info.value


def test_token_and_smart_together_is_a_config_error(keys, ct_small):
    e = server_error(lambda: dicom_fhir.upload(ct_small, "http://127.0.0.1:9/fhir", token="abc",
                                               smart_client_id=CLIENT, smart_key=keys["rsa"]))
    assert e.kind == "config" and "not both" in str(e)
    e = server_error(lambda: dicom_fhir.verify("http://127.0.0.1:9/fhir", token="abc", smart_client_id=CLIENT,
                                               smart_key=keys["rsa"]))
    assert e.kind == "config" and "not both" in str(e)


def test_half_credentials_and_bad_keys_are_config_errors(keys, ct_small, tmp_path):
    url = "http://127.0.0.1:9/fhir"
    e = server_error(lambda: dicom_fhir.upload(ct_small, url, smart_client_id=CLIENT))
    assert e.kind == "config" and "smart_key" in str(e)
    e = server_error(lambda: dicom_fhir.upload(ct_small, url, smart_key=keys["rsa"]))
    assert e.kind == "config" and "smart_client_id" in str(e)
    e = server_error(lambda: dicom_fhir.upload(ct_small, url, smart_client_id=CLIENT, smart_key=tmp_path / "nope.pem"))
    assert e.kind == "config" and "nope.pem" in str(e) and "cannot read" in str(e)
    e = server_error(lambda: dicom_fhir.upload(ct_small, url, smart_client_id=CLIENT, smart_key=keys["public"]))
    assert e.kind == "config" and "PRIVATE KEY" in str(e)
    e = server_error(lambda: dicom_fhir.upload(ct_small, url, smart_client_id=CLIENT, smart_key=keys["rsa"],
                                               smart_alg="ES384"))
    assert e.kind == "config" and "does not fit" in str(e)
    # an unreachable token endpoint is named as such
    e = server_error(lambda: dicom_fhir.upload(ct_small, url, smart_client_id=CLIENT, smart_key=keys["ec"],
                                               smart_token_url="http://127.0.0.1:9/token", timeout=5))
    assert e.kind == "unreachable" and "SMART token endpoint http://127.0.0.1:9/token" in str(e)


def test_refusing_token_endpoint_shows_oauth_error_not_assertion(keys, ct_small):
    refusal = (400, {"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"})
    with IdpAndFhir(refuse=refusal) as idp:
        e = server_error(lambda: dicom_fhir.upload(ct_small, idp.url, smart_client_id=CLIENT, smart_key=keys["rsa"]))
    assert e.kind == "unauthorized"
    assert "invalid_client: Invalid client or Invalid client credentials" in str(e)
    assertion = idp.token_forms[0]["client_assertion"]
    assert assertion.split(".")[2] not in str(e) and assertion[:30] not in str(e)
    assert idp.authorization == [], "nothing sent to the FHIR server without a token"


def test_upload_with_smart_credentials_from_the_environment(keys, ct_small, monkeypatch):
    with IdpAndFhir() as idp:
        monkeypatch.setenv("DICOMFHIR_SMART_CLIENT_ID", CLIENT)
        monkeypatch.setenv("DICOMFHIR_SMART_KEY", str(keys["rsa"]))
        report = dicom_fhir.upload(ct_small, idp.url, smart_scope="system/Binary.cs system/StructureDefinition.s")
    assert report["stored"] == 1
    assert len(idp.token_forms) == 1, "one token for the whole upload"
    form = idp.token_forms[0]
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["scope"] == "system/Binary.cs system/StructureDefinition.s"
    header, claims = jwt_part(form["client_assertion"], 0), jwt_part(form["client_assertion"], 1)
    assert header["alg"] == "RS384" and header["typ"] == "JWT" and header["kid"]
    assert claims["iss"] == claims["sub"] == CLIENT and claims["aud"] == f"{idp.root}/token"
    assert idp.authorization and set(idp.authorization) == {"Bearer token-1"}
    # an explicit token= ignores the SMART variables
    e = server_error(lambda: dicom_fhir.upload(ct_small, idp.url.replace(idp.root, "http://127.0.0.1:9"), token="t",
                                               timeout=5))
    assert e.kind == "unreachable"


def test_cli_smart_flags(run_cli, keys, ct_small):
    r = run_cli("upload", ct_small, "--server", "http://127.0.0.1:9/fhir", "--smart-client-id", CLIENT,
                "--smart-key", keys["rsa"], env={"DICOMFHIR_TOKEN": "abc"})
    assert r.returncode == 2 and "not both" in r.stderr, r.stderr
    r = run_cli("upload", ct_small, "--server", "http://127.0.0.1:9/fhir", "--smart-client-id", CLIENT)
    assert r.returncode == 2 and "--smart-key" in r.stderr, r.stderr
    with IdpAndFhir() as idp:
        r = run_cli("upload", ct_small, "--server", idp.url, "--quiet", "--smart-key", keys["ec"],
                    env={"DICOMFHIR_SMART_CLIENT_ID": CLIENT})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stored 1 new" in r.stdout
    assert jwt_part(idp.token_forms[0]["client_assertion"], 0)["alg"] == "ES384"
    assert len(idp.token_forms) == 1 and set(idp.authorization) == {"Bearer token-1"}
    r = run_cli("smart-jwk", "--smart-key", keys["ec"])
    assert r.returncode == 0, r.stderr
    jwk = json.loads(r.stdout)["keys"][0]
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-384" and jwk["alg"] == "ES384"
    assert jwk["kid"] == jwt_part(idp.token_forms[0]["client_assertion"], 0)["kid"]
    assert "d" not in jwk, "the public JWK only"
