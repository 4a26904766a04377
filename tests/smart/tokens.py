"""Getting and checking tokens of the realm started by scripts/idp.sh (fixture `idp`).

    system_token(idp)          client_credentials, client secret      scope system/*.cruds
    system_read_token(idp)     client_credentials, client secret      scope system/*.rs
    system_r_token(idp)        client_credentials, client secret      scope system/*.r (no search)
    system_s_token(idp)        client_credentials, client secret      scope system/*.s (no read by id)
    backend_token(idp)         client_credentials, RS384 private_key_jwt (SMART Backend Services)
    patient_token(idp, "A")    password grant of the test patient app, scope launch/patient patient/*.rs

Each returns the access token (str). `request_token` returns the raw response for tests of refusals,
`client_assertion` builds a fresh (or deliberately reused) Backend Services assertion, `claims`
decodes without verification and `verified_claims` checks signature, iss, aud and exp against the
realm's JWKS.
"""

from __future__ import annotations

import time
import uuid
from functools import lru_cache
from pathlib import Path

import jwt
import requests

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def request_token(idp: dict, **form: str) -> requests.Response:
    return requests.post(idp["token_endpoint"], data=form, timeout=30)


def _access_token(response: requests.Response) -> str:
    assert response.status_code == 200, f"token endpoint {response.status_code}: {response.text}"
    return response.json()["access_token"]


def _client_credentials(client: dict) -> dict:
    return {"grant_type": "client_credentials", "client_id": client["client_id"],
            "client_secret": client["client_secret"]}


def system_token(idp: dict) -> str:
    return _access_token(request_token(idp, **_client_credentials(idp["system"])))


def system_read_token(idp: dict) -> str:
    return _access_token(request_token(idp, **_client_credentials(idp["system_read"])))


def system_r_token(idp: dict) -> str:
    return _access_token(request_token(idp, **_client_credentials(idp["system_r"])))


def system_s_token(idp: dict) -> str:
    return _access_token(request_token(idp, **_client_credentials(idp["system_s"])))


def patient_form(idp: dict, which: str) -> dict:
    p = idp["patients"][which]
    form = {"grant_type": "password", "client_id": p["client_id"], "username": p["username"],
            "password": p["password"], "scope": "openid"}
    if "client_secret" in p:
        form["client_secret"] = p["client_secret"]
    return form


def patient_token(idp: dict, which: str) -> str:
    return _access_token(request_token(idp, **patient_form(idp, which)))


def client_assertion(idp: dict, *, key_pem: bytes | None = None, jti: str | None = None,
                     audience: str | None = None, lifetime_s: int = 240) -> str:
    """A SMART Backend Services client assertion: iss = sub = client_id, aud = token endpoint,
    exp at most 5 min ahead, a fresh jti unless one is given (to test replay)."""
    backend = idp["backend"]
    now = int(time.time())
    payload = {"iss": backend["client_id"], "sub": backend["client_id"],
               "aud": audience or idp["token_endpoint"], "jti": jti or str(uuid.uuid4()),
               "iat": now, "exp": now + lifetime_s}
    key = key_pem if key_pem is not None else Path(backend["private_key_pem"]).read_bytes()
    # SMART requires the header's kid: the registered key's, also when signing with another key.
    return jwt.encode(payload, key, algorithm=backend["alg"], headers={"kid": backend["kid"]})


def backend_form(idp: dict, assertion: str) -> dict:
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, "scope": "system/*.cruds"}


def backend_token(idp: dict) -> str:
    return _access_token(request_token(idp, **backend_form(idp, client_assertion(idp))))


def claims(token: str) -> dict:
    """Payload without any check; for looking, never for trusting."""
    return jwt.decode(token, options={"verify_signature": False})


@lru_cache(maxsize=8)
def _jwks_client(jwks_uri: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(jwks_uri, cache_keys=True)


def verified_claims(idp: dict, token: str) -> dict:
    """Payload after checking the signature against the realm's JWKS, iss, aud and exp."""
    key = _jwks_client(idp["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256", "RS384", "ES256", "ES384", "PS256"],
                      audience=idp["audience"], issuer=idp["issuer"],
                      options={"require": ["exp", "iat", "iss", "aud"]})


def scopes(token_claims: dict) -> set[str]:
    return set(token_claims.get("scope", "").split())
