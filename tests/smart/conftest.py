"""Fixture `idp`: a real OpenID provider (Keycloak, scripts/idp.sh) for the whole pytest session.

Usage in any test under tests/smart:

    def test_something(idp):
        token = tokens.system_token(idp)          # tests/smart/tokens.py
        idp["issuer"], idp["audience"], idp["patients"]["A"]["patient_identifier"], ...

`idp` is the JSON object that `scripts/idp.sh start` prints as its last stdout line (the contract
documented at the top of scripts/idp.sh), plus `idp["_run_dir"]`. It is started once per session
(about 40-80 s on 2 cores), with a fresh realm and fresh random secrets, and stopped at the end;
the teardown checks that `stop` really stopped it (pid gone, port closed) and fails the session
otherwise. Set IDP_PORT / IDP_TOKEN_LIFESPAN in the environment to change port or token lifetime.

Fixtures of the authorization matrix (test_matrix.py): `smart_server`, the built example server
(tests/server_harness.py: $DICOMFHIR_JAR, else examples/target; nothing is built here) in the smart
profile against the idp, one per session; `stored`, one small study of patient A and one of B
uploaded with the system token (tests/smart/smart_data.py).

To iterate quickly on tests against an IdP you started yourself (`scripts/idp.sh start`), set
IDP_CONTRACT to its contract file (.data/idp/contract.json): the fixture then neither starts nor
stops anything (and so does not check `stop`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from idp_process import ROOT, START_TIMEOUT_S, port_open, run_idp


@pytest.fixture(scope="session")
def idp():
    if os.environ.get("IDP_CONTRACT"):
        contract = json.loads(Path(os.environ["IDP_CONTRACT"]).read_text())
        contract.setdefault("_run_dir", str(Path(os.environ["IDP_CONTRACT"]).parent))
        yield contract
        return
    started = run_idp("start", timeout=START_TIMEOUT_S)
    if started.returncode != 0:
        pytest.fail(f"scripts/idp.sh start exited {started.returncode}:\n{started.stderr[-4000:]}")
    lines = started.stdout.strip().splitlines()
    assert lines, f"scripts/idp.sh start printed nothing on stdout; stderr:\n{started.stderr[-4000:]}"
    contract = json.loads(lines[-1])
    run_dir = Path(os.environ.get("IDP_RUN_DIR", ROOT / ".data" / "idp"))
    jvm_pid = int((run_dir / "keycloak.pid").read_text())
    contract["_run_dir"] = str(run_dir)
    issuer = urlsplit(contract["issuer"])
    try:
        yield contract
    finally:
        stopped = run_idp("stop")
        assert stopped.returncode == 0, f"scripts/idp.sh stop exited {stopped.returncode}: {stopped.stderr}"
        assert not Path(f"/proc/{jvm_pid}").exists(), f"Keycloak (pid {jvm_pid}) still alive after stop"
        assert not port_open(issuer.hostname, issuer.port), f"port {issuer.port} still open after stop"


# --- the example server in the smart profile, and the two patients' stored studies ---------------

from dataclasses import dataclass  # noqa: E402

import requests  # noqa: E402

import tokens  # noqa: E402
from server_harness import ServerPool  # noqa: E402
from smart_data import Study, make_instance, upload, wait_for_study  # noqa: E402


def _issuer_before_start() -> str:
    """The issuer the idp fixture will have (scripts/idp.sh: realm dicom on 127.0.0.1:$IDP_PORT),
    known before Keycloak runs so that the server's JVM can start at the same time."""
    if os.environ.get("IDP_CONTRACT"):
        return json.loads(Path(os.environ["IDP_CONTRACT"]).read_text())["issuer"]
    return f"http://127.0.0.1:{os.environ.get('IDP_PORT', '18180')}/realms/dicom"


@pytest.fixture(scope="session")
def smart_server(request):
    """The built example server (tests/server_harness.py: $DICOMFHIR_JAR or examples/target) in
    the smart profile against the idp, on a throwaway data directory. Clock skew 0, so that a
    token the issuer made expire is refused as soon as its exp passes (the expired-token case).
    Its JVM starts before Keycloak is up: the server reads the issuer's discovery on first use."""
    pool = ServerPool("smart")
    try:
        server = pool.start("smart", "--spring.profiles.active=smart",
                            f"--dicomfhir.smart.issuer={_issuer_before_start()}",
                            "--dicomfhir.smart.clock-skew-seconds=0",
                            f"--example.data-dir={pool.work / 'data'}",
                            java_opts=["-Xmx1g", "-XX:TieredStopAtLevel=1"])
        contract = request.getfixturevalue("idp")
        assert contract["issuer"] == _issuer_before_start(), "the idp does not run where expected"
        server.wait_ready()
        yield server
    finally:
        pool.close()


@dataclass
class Stored:
    A: Study
    B: Study


@pytest.fixture(scope="session")
def stored(idp, smart_server) -> Stored:
    """One study for patient A (PatientID SMART-PATIENT-A) and one for B, uploaded with the
    system token, with their FHIR Patient ids and a BulkDataURI of each instance."""
    token = tokens.system_token(idp)
    base = smart_server.base
    result = {}
    for which in ("A", "B"):
        identifier = idp["patients"][which]["patient_identifier"]
        inst = make_instance(identifier.split("|", 1)[1])
        upload(base, token, inst)
        study = wait_for_study(base, token, inst)
        inst.fhir_patient = study["subject"]["reference"].split("/")[-1]
        r = requests.get(f"{base}/dicomweb/studies/{inst.study}/series/{inst.series}/instances/{inst.sop}/metadata",
                         headers={"Authorization": f"Bearer {token}", "Accept": "application/dicom+json"},
                         timeout=30)
        assert r.status_code == 200, f"metadata of {which}: {r.status_code} {r.text[:300]}"
        uris = [v["BulkDataURI"] for v in r.json()[0].values() if isinstance(v, dict) and "BulkDataURI" in v]
        assert uris, f"no BulkDataURI in the metadata of {which}'s instance"
        inst.bulkdata_uri = uris[0]
        result[which] = inst
    return Stored(result["A"], result["B"])


def pytest_collection_modifyitems(items):
    """The matrix first: its server's JVM then starts while Keycloak starts (smart_server asks
    for the idp only after launching it), instead of after the idp tests (~80 s saved)."""
    items.sort(key=lambda item: 0 if item.module.__name__ == "test_matrix" else 1)
