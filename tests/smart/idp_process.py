"""Running scripts/idp.sh from tests (a module of its own: `conftest` is an ambiguous import name
when tests/ and tests/smart/ both have one)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IDP_SH = ROOT / "scripts" / "idp.sh"
# Generous: the first start of a machine downloads (~170 MiB) and builds Keycloak.
START_TIMEOUT_S = 900


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def run_idp(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(IDP_SH), *args], capture_output=True, text=True, timeout=timeout)
