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
        yield json.loads(Path(os.environ["IDP_CONTRACT"]).read_text())
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
