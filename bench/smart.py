"""The `smart` phase of bench/run.py: the cost of tokens.

Issue bar: with tokens (SMART on FHIR), QIDO p95 and STOW-RS throughput within 10% of the same
workload without them. Two example servers of the same jar run at once, one plain and one with the
`smart` profile trusting a Keycloak started here (scripts/idp.sh, on a free port, run dir in the
work directory); the client sends `Authorization: Bearer` with a client_credentials token of the
`dicom-system` client (scope system/*.cruds) to the smart one and nothing to the other, renewing
the token when a quarter of its lifetime is left. The STOW-RS and QIDO-RS figures are those of the
facade phase (bench/facade.py: the same requests, alternating between the servers), so only the
token differs. Ratios are smart ÷ plain: STOW instances/s ≥ 0.9, every QIDO p95 ≤ 1.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import requests

import common
import facade
from common import median_p95, row, settle


# Each round starts with both servers idle (figure_stow's settle_pids): without that, the two runs
# of this phase on an idle machine gave 0.83 and 0.92, one server's study writing falling into the
# other's round. More rounds spread what is left of that noise.
STOW_ROUNDS = 8


def log(msg: str):
    common.log(msg, "smart: ")


class Idp:
    """scripts/idp.sh start/stop with a private run dir and port."""

    def __init__(self, root: Path, work: Path, port: int):
        self.script = root / "scripts" / "idp.sh"
        self.env = {**os.environ, "IDP_RUN_DIR": str(work / "idp"), "IDP_PORT": str(port)}
        self.contract = None

    def start(self) -> dict:
        t0 = time.time()
        out = subprocess.run([str(self.script), "start"], env=self.env, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"scripts/idp.sh start exited {out.returncode}:\n{out.stderr[-3000:]}")
        self.contract = json.loads(out.stdout.strip().splitlines()[-1])
        log(f"Keycloak up in {time.time() - t0:.0f}s: {self.contract['issuer']}")
        return self.contract

    def stop(self):
        subprocess.run([str(self.script), "stop"], env=self.env, capture_output=True)


class SystemToken:
    """A client_credentials token, shared by all client threads, renewed (single-flight) when a
    quarter of its lifetime is left; counts the tokens fetched."""

    def __init__(self, contract: dict):
        self.url = contract["token_endpoint"]
        self.form = {"grant_type": "client_credentials", "client_id": contract["system"]["client_id"],
                     "client_secret": contract["system"]["client_secret"]}
        self.lock = threading.Lock()
        self.value, self.renew_at, self.fetched = None, 0.0, 0

    def __call__(self) -> str:
        with self.lock:
            if self.value is None or time.monotonic() >= self.renew_at:
                t = time.monotonic()
                r = requests.post(self.url, data=self.form, timeout=60)
                r.raise_for_status()
                body = r.json()
                self.value = body["access_token"]
                self.renew_at = t + 0.75 * float(body.get("expires_in", 300))
                self.fetched += 1
            return self.value


def run(root: Path, work: Path, make_server, warm: list[bytes], items: list[bytes], studies: list,
        clients: int, seed: int, qido_n: int, idp_port: int) -> dict:
    """make_server(name, extra_args) -> an unstarted bench/run.py Server of the plugin."""
    idp = Idp(root, work, idp_port)
    servers = []
    try:
        contract = idp.start()
        plain = make_server("smart-off", [])
        smart = make_server("smart-on", ["--spring.profiles.active=smart",
                                         f"--dicomfhir.smart.issuer={contract['issuer']}"])
        servers = [plain, smart]
        for s in servers:
            s.start()
        for s in servers:
            s.wait()
        peers = {"smart": f"{smart.base}/dicomweb", "plain": f"{plain.base}/dicomweb"}
        token = SystemToken(contract)
        facade.AUTH[peers["smart"]] = token
        # The smart server must refuse the same request without a token, or nothing is measured.
        refused = requests.get(f"{peers['smart']}/studies?limit=1", timeout=60).status_code
        if refused != 401:
            raise RuntimeError(f"the smart server answered {refused} to a request without a token")
        res = {"idp": contract["issuer"], "unauthenticated_status": refused}
        log(f"STOW: warm-up {len(warm)} instances each, then {len(items)} instances in {STOW_ROUNDS} rounds")
        res["stow"] = facade.figure_stow(peers, warm, items, clients, STOW_ROUNDS, a="smart", b="plain",
                                         settle_pids=[s.proc.pid for s in servers])
        log(f"STOW: smart {res['stow']['smart']['inst_per_s']}/s, plain {res['stow']['plain']['inst_per_s']}/s, "
            f"ratio {res['stow']['ratio_inst_per_s']}")
        res["settle_before_qido_s"] = settle([s.proc.pid for s in servers])
        res["qido"] = facade.figure_qido(peers, facade.qido_queries(studies, qido_n, seed),
                                         facade.qido_queries(studies, facade.QIDO_WARMUP, f"{seed}/warm-up"),
                                         a="smart", b="plain")
        res["tokens_fetched"] = token.fetched
        res["met"] = met(res)
        return res
    finally:
        facade.AUTH.clear()
        for s in servers:
            s.stop()
        idp.stop()


def met(res: dict) -> bool:
    ok = res["stow"]["ratio_inst_per_s"] >= 0.9 and not res["stow"]["smart"]["errors"] and not res["stow"]["plain"]["errors"]
    for q in res["qido"].values():
        ok = ok and q["ratio_p95"] <= 1.1 and not q["count_mismatches"] and not q["smart"]["errors"]
    return ok


def markdown_rows(f: dict) -> list[str]:
    """Rows of bench/run.py's table: figure | ours | reference | ratio | bar | met."""
    s = f["stow"]
    L = [row(f"Tokens: STOW-RS, {s['per_request']} instances/request, {s['clients']} clients: instances/s",
             f"{s['smart']['inst_per_s']} (SMART, bearer token)", f"{s['plain']['inst_per_s']} (no tokens)",
             s["ratio_inst_per_s"], "≥ 0.9", common.met(s["ratio_inst_per_s"] >= 0.9))]
    for kind, q in f["qido"].items():
        verdict = "**answers differ**" if q["count_mismatches"] else common.met(q["ratio_p95"] <= 1.1)
        L.append(row(f"Tokens: QIDO {kind}: median / p95 (ms)", median_p95(q["smart"]), median_p95(q["plain"]),
                     f"{q['ratio_median']} / {q['ratio_p95']}", "p95 ≤ 1.1", verdict))
    return L
