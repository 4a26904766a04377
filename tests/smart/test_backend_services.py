"""SMART Backend Services end to end: the `dicom-fhir` CLI and the `dicom_fhir` Python module upload
with nothing but a client id and a private key, against the example server in SMART mode and the
real Keycloak of scripts/idp.sh (fixture `idp`).

What an integrator relies on:
- `dicom-fhir upload DIR --smart-client-id dicom-backend --smart-key KEY` works with the realm as
  scripts/idp.sh registers it: no --smart-kid, --smart-scope or --smart-token-url (the kid is the
  key's RFC 7638 thumbprint, the scope system/*.cruds, the token endpoint from the server's
  .well-known/smart-configuration), and every instance is then listed by QIDO.
- the same through `dicom_fhir.upload(..., smart_client_id=, smart_key=)`.
- tokens that expire during an upload are renewed: a client with a 10 s access-token lifespan
  uploads for longer than that to a server allowing 1 s of clock skew (so an expired token would
  be refused), Keycloak's login events show more than one token, and everything is stored.
- a key the provider does not know, or a read-only token, stops the upload with a clear message
  and nothing is stored.

Needs the server jar (examples/target, or DICOMFHIR_JAR), the CLI (target/{release,debug}/dicom-fhir
or DICOMFHIR_CLI), the `dicom_fhir` module in the venv (scripts/test.sh, scripts/e2e.sh:
`pip install ./rust/python`) and the corpus (.data/pydicom/CT_small.dcm).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import tokens
from idp_process import ROOT

sys.path.insert(0, str(ROOT / "tests" / "python"))
from dicom_copies import write_copies  # noqa: E402
from server_harness import ServerPool  # noqa: E402

CT_SMALL = Path(os.environ.get("DICOMFHIR_DATA", ROOT / ".data")) / "pydicom" / "CT_small.dcm"
# The client treats lifetimes under 10 s as 10 s (smart.rs), so 10 s is the shortest that
# tests renewal rather than that floor.
SHORT_LIFESPAN_S = 10
DICOM_JSON = "application/dicom+json"


def cli_path() -> Path:
    env = os.environ.get("DICOMFHIR_CLI")
    candidates = [Path(env)] if env else [ROOT / "target" / p / "dicom-fhir" for p in ("release", "debug")]
    found = [p for p in candidates if p.exists()]
    if not found:
        pytest.fail("dicom-fhir CLI not built: cargo build -p dicom-fhir-cli (or set DICOMFHIR_CLI)")
    return max(found, key=lambda p: p.stat().st_mtime)


def run_cli(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMFHIR_SMART_") and k != "DICOMFHIR_TOKEN"}
    return subprocess.run([str(cli_path()), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def smart_fhir(idp):
    """The example server with the `smart` profile, trusting the session's Keycloak; its FHIR base."""
    pool = ServerPool("smart-backend")
    try:
        server = pool.start("server", "--spring.profiles.active=smart", f"--dicomfhir.smart.issuer={idp['issuer']}",
                            f"--example.data-dir={pool.work / 'data'}",
                            # default 30 s: a token would outlive the short-lived client's lifespan
                            "--dicomfhir.smart.clock-skew-seconds=1", java_opts=["-XX:TieredStopAtLevel=1"])
        server.wait_ready()
        yield server.base
    finally:
        pool.close()


@pytest.fixture
def copies(tmp_path):
    """copies(n) -> (folder, study uid): n new instances (copies of CT_small) in a new study."""
    def make(n: int):
        folder = tmp_path / f"study{n}"
        _, study = write_copies(CT_SMALL, folder, n)
        return folder, study
    return make


def listed_instances(base: str, token: str, study: str) -> int:
    """Instances QIDO lists in the study, page by page (a page holds at most qido-max-results)."""
    listed, page = 0, 500
    while True:
        r = requests.get(f"{base}/dicomweb/studies/{study}/instances", timeout=60,
                         params={"limit": page, "offset": listed},
                         headers={"Accept": DICOM_JSON, "Authorization": f"Bearer {token}"})
        assert r.status_code in (200, 204), f"QIDO {r.status_code}: {r.text[:300]}"
        got = len(r.json()) if r.status_code == 200 else 0
        listed += got
        if got < page:
            return listed


def smart_args(client_id: str, key: str | Path):
    return ["--smart-client-id", client_id, "--smart-key", key]


# --- the two sides meet ----------------------------------------------------------------------


def test_cli_upload_with_only_client_id_and_key(idp, smart_fhir, copies):
    folder, study = copies(12)
    backend = idp["backend"]
    done = run_cli("upload", folder, "--server", smart_fhir, "--quiet",
                   *smart_args(backend["client_id"], backend["private_key_pem"]))
    assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert listed_instances(smart_fhir, tokens.system_token(idp), study) == 12


def test_python_upload_with_only_client_id_and_key(idp, smart_fhir, copies):
    import dicom_fhir
    folder, study = copies(7)
    backend = idp["backend"]
    report = dicom_fhir.upload([str(folder)], smart_fhir, smart_client_id=backend["client_id"],
                               smart_key=backend["private_key_pem"])
    assert report["instances"] == 7 and report["stored"] == 7 and not report["failed"], report
    assert listed_instances(smart_fhir, tokens.system_token(idp), study) == 7


def rfc7638_thumbprint(key_pem: Path) -> str:
    public = serialization.load_pem_private_key(key_pem.read_bytes(), None).public_key().public_numbers()
    b64 = lambda i: base64.urlsafe_b64encode(i.to_bytes((i.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()  # noqa: E731
    canonical = json.dumps({"e": b64(public.e), "kty": "RSA", "n": b64(public.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def test_registered_kid_is_the_thumbprint_the_cli_sends(idp):
    """The realm's key id, `dicom-fhir smart-jwk` (what an operator registers) and RFC 7638 agree."""
    key = Path(idp["backend"]["private_key_pem"])
    done = run_cli("smart-jwk", "--smart-key", key)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["keys"][0]["kid"] == idp["backend"]["kid"] == rfc7638_thumbprint(key)


# --- tokens that expire mid-upload -------------------------------------------------------------


class KeycloakAdmin:
    """The admin REST API of the session's Keycloak (admin password from the run dir)."""

    def __init__(self, idp: dict):
        run_dir = Path(idp.get("_run_dir") or os.environ.get("IDP_RUN_DIR", ROOT / ".data" / "idp"))
        self.base = idp["issuer"].rsplit("/realms/", 1)[0]
        self.password = (run_dir / "admin-password").read_text().strip()
        self.realm = f"{self.base}/admin/realms/dicom"

    def headers(self) -> dict:
        # A token per call: the master realm's admin tokens live 60 s, less than an upload.
        token = requests.post(f"{self.base}/realms/master/protocol/openid-connect/token", timeout=30, data={
            "grant_type": "password", "client_id": "admin-cli", "username": "admin", "password": self.password})
        assert token.status_code == 200, f"admin token: {token.status_code} {token.text[:200]}"
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def call(self, method: str, path: str, **kw) -> requests.Response:
        r = requests.request(method, f"{self.realm}{path}", headers=self.headers(), timeout=30, **kw)
        assert r.status_code < 400, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r

    def client(self, client_id: str) -> dict:
        return self.call("GET", "/clients", params={"clientId": client_id}).json()[0]


@pytest.fixture
def short_lived_backend(idp):
    """A copy of the backend client (same JWKS, same scopes) whose access tokens live 10 s, and
    Keycloak's login events switched on to count its tokens. Removed afterwards, so the shared
    realm is as scripts/idp.sh made it for the other tests of the session."""
    admin = KeycloakAdmin(idp)
    client = admin.client(idp["backend"]["client_id"])
    for k in ("id", "secret", "registrationAccessToken"):
        client.pop(k, None)
    client_id = "dicom-backend-short-lived"
    client["clientId"] = client_id
    client["attributes"]["access.token.lifespan"] = str(SHORT_LIFESPAN_S)
    realm = admin.call("GET", "").json()
    admin.call("PUT", "", json={"eventsEnabled": True, "enabledEventTypes": ["CLIENT_LOGIN", "CLIENT_LOGIN_ERROR"]})
    admin.call("POST", "/clients", json=client)
    try:
        yield admin, client_id
    finally:
        admin.call("DELETE", f"/clients/{admin.client(client_id)['id']}")
        admin.call("PUT", "", json={k: realm.get(k) for k in ("eventsEnabled", "enabledEventTypes")})
        admin.call("DELETE", "/events")


def token_logins(admin: KeycloakAdmin, client_id: str) -> list[dict]:
    return admin.call("GET", "/events", params={"client": client_id, "type": "CLIENT_LOGIN", "max": 1000}).json()


def test_cli_renews_tokens_that_expire_mid_upload(idp, smart_fhir, copies, short_lived_backend):
    admin, client_id = short_lived_backend
    # One request at a time, enough for three token lifetimes on this machine: the upload rate
    # varies from 40 to 170 instances/s between machines and loads (400 took 9.1 s on one CI
    # run, 1,200 took 7.3 s on the next), so it is measured first, with the long-lived client.
    probe, _ = copies(200)
    t0 = time.monotonic()
    done = run_cli("upload", probe, "--server", smart_fhir, "--quiet", "--jobs", "1",
                   *smart_args(idp["backend"]["client_id"], idp["backend"]["private_key_pem"]))
    assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    rate = 200 / (time.monotonic() - t0)
    n = min(50_000, max(400, int(rate * 3 * SHORT_LIFESPAN_S)))
    folder, study = copies(n)
    t0 = time.monotonic()
    done = run_cli("upload", folder, "--server", smart_fhir, "--quiet", "--jobs", "1",
                   *smart_args(client_id, idp["backend"]["private_key_pem"]))
    elapsed = time.monotonic() - t0
    assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert elapsed > SHORT_LIFESPAN_S, (f"the upload of {n} instances took {elapsed:.1f} s (the probe's rate: "
                                        f"{rate:.0f}/s): too short to outlive a token")
    logins = token_logins(admin, client_id)
    # Renewed when a quarter of the 10 s is left: a new token every 7.5 s of upload.
    assert len(logins) >= 2, f"{len(logins)} token(s) in {elapsed:.1f} s of upload"
    assert listed_instances(smart_fhir, tokens.system_token(idp), study) == n


# --- refusals ----------------------------------------------------------------------------------


def test_cli_with_an_unknown_key_fails_clearly_and_stores_nothing(idp, smart_fhir, copies, tmp_path):
    other = tmp_path / "other-key.pem"
    other.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    other.chmod(0o600)
    folder, study = copies(3)
    done = run_cli("upload", folder, "--server", smart_fhir, "--quiet",
                   *smart_args(idp["backend"]["client_id"], other))
    assert done.returncode == 2, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    message = done.stderr
    assert "token endpoint" in message and "invalid_client" in message, message
    assert idp["backend"]["client_id"] in message, message
    assert "BEGIN" not in message and "eyJ" not in message, "key or assertion leaked into the message"
    assert listed_instances(smart_fhir, tokens.system_token(idp), study) == 0


def test_cli_with_a_read_only_token_is_refused(idp, smart_fhir, copies):
    folder, study = copies(3)
    done = run_cli("upload", folder, "--server", smart_fhir, "--quiet", "--token", tokens.system_read_token(idp))
    assert done.returncode == 2, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert "403" in done.stderr, done.stderr
    assert listed_instances(smart_fhir, tokens.system_token(idp), study) == 0


def test_python_with_an_unknown_key_raises_and_stores_nothing(idp, smart_fhir, copies, tmp_path):
    import dicom_fhir
    other = tmp_path / "other-key.pem"
    other.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    folder, study = copies(2)
    with pytest.raises(dicom_fhir.ServerError) as refused:
        dicom_fhir.upload([str(folder)], smart_fhir, smart_client_id=idp["backend"]["client_id"],
                          smart_key=str(other))
    assert "invalid_client" in str(refused.value), str(refused.value)
    assert listed_instances(smart_fhir, tokens.system_token(idp), study) == 0
