"""The `served` phase of bench/run.py (issue 18): the server as README's command starts it.

Every other phase starts the server jar with the benchmark's own JVM options and warms it up. A
user meets `./scripts/serve.sh`: its JVM options, fresh, with a small store. So this phase runs
`scripts/serve.sh` itself (SERVE_BUILD=never: the jar must be built; a fresh data directory and a
free port; JAVA_OPTS only when `--served-opts` names variants to compare), next to Orthanc +
DICOMweb started fresh as well, and measures, per variant:

  start        seconds from the command to the first `GET /metadata` 200: the first start after a
               build (serve.sh extracts the jar, and prepares anything else it caches), then a
               start on an empty store and one on the store the run filled
  fresh        STOW-RS of 1,000 instances (20 studies x 5 series x 10, 50 per request, 4 clients)
               the moment /metadata answers, no warm-up; then 300 QIDO queries per type
  warm         the same again with 1,000 other instances, on the same running servers

Ratios are ours / Orthanc (STOW: instances/s; QIDO: p95).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

import facade
import gen_dataset as gd
from common import log, met, row
from server_harness import free_port

SHAPE = (20, 5, 10)


class Served:
    """`scripts/serve.sh` on a free port and its own data directory."""

    def __init__(self, root: Path, data: Path, log_path: Path, java_opts: str | None, run_dir: Path):
        self.root, self.data, self.log_path, self.java_opts = root, data, log_path, java_opts
        self.run_dir = run_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.proc = None

    def start(self, timeout: float = 600) -> float:
        env = {**os.environ, "SERVE_BUILD": "never", "EXAMPLE_DATA_DIR": str(self.data),
               "SERVER_PORT": str(self.port), "SERVE_RUN_DIR": str(self.run_dir)}
        env.pop("JAVA_OPTS", None)
        if self.java_opts is not None:
            env["JAVA_OPTS"] = self.java_opts
        self.logf = open(self.log_path, "ab")
        t0 = time.time()
        # its own process group: serve.sh execs java, but stop whatever it started either way
        self.proc = subprocess.Popen([str(self.root / "scripts" / "serve.sh"), "--server.address=127.0.0.1"],
                                     cwd=self.root, env=env, stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve.sh exited {self.proc.returncode}: see {self.log_path}")
            try:
                if requests.get(f"{self.base}/metadata", timeout=10).status_code == 200:
                    return round(time.time() - t0, 1)
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"serve.sh did not answer /metadata in {timeout}s: see {self.log_path}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc:
            self.logf.close()
        self.proc = None


def one_round(peers: dict, items: list[bytes], studies: list, clients: int, qido_n: int, seed: str) -> dict:
    """STOW-RS of `items` into each server (ours first: it is the one that pays for being fresh),
    then the QIDO query types over `studies`, interleaved, without warm-up."""
    stow = {}
    for name, base in peers.items():
        r = facade.stow(base, items, clients)
        bad = len(r["errors"]) + sum(s != 200 for s in r["status"])
        stow[name] = {"instances": r["n"], "seconds": round(r["wall"], 2),
                      "inst_per_s": round(r["n"] / r["wall"], 1), "errors": bad}
        log(f"served STOW {name}: {r['n']} in {r['wall']:.1f}s ({r['n'] / r['wall']:.1f}/s), errors {bad}")
    stow["ratio_inst_per_s"] = facade.ratio(stow["ours"]["inst_per_s"], stow["orthanc"]["inst_per_s"])
    qido = facade.figure_qido(peers, facade.qido_queries(studies, qido_n, seed), {"no warm-up": []})
    return {"stow": stow, "qido": qido}


def variant(root: Path, work: Path, label: str, java_opts: str | None, clients: int, qido_n: int,
            seed: int, templates: dict) -> dict:
    d = work / f"served-{label}"
    d.mkdir(parents=True)
    batches = [gd.plan(*SHAPE, seed=seed, tag=f"served-{label}-{k}") for k in (1, 2)]
    items = [[data for _, data in gd.render(b, templates)] for b in batches]
    out = {"java_opts": java_opts if java_opts is not None else "(serve.sh's default)"}
    # the first start after a build: serve.sh extracts the jar and prepares what it caches, here
    # into a run directory of the variant's own (the user's examples/target/server is left alone)
    run_dir = d / "run"
    first = Served(root, d / "data-first", d / "serve-first.log", java_opts, run_dir)
    try:
        out["start_first_after_build_s"] = first.start()
    finally:
        first.stop()
    orthanc = facade.Orthanc(root, d, port=free_port()).start()
    ours = Served(root, d / "data", d / "serve.log", java_opts, run_dir)
    try:
        out["start_empty_store_s"] = ours.start()
        log(f"served [{label}]: /metadata after {out['start_empty_store_s']}s (empty store)")
        peers = {"ours": f"{ours.base}/dicomweb", "orthanc": orthanc.base}
        out["fresh"] = one_round(peers, items[0], batches[0], clients, qido_n, f"{seed}/{label}/fresh")
        out["warm"] = one_round(peers, items[1], batches[0] + batches[1], clients, qido_n, f"{seed}/{label}/warm")
        ours.stop()
        out["start_filled_store_s"] = ours.start()
        log(f"served [{label}]: /metadata after {out['start_filled_store_s']}s (2,000 instances stored)")
    finally:
        ours.stop()
        orthanc.stop()
    return out


def phase(root: Path, work: Path, variants: list[str], clients: int, qido_n: int, seed: int, templates: dict) -> dict:
    """`variants`: JVM option strings for serve.sh's JAVA_OPTS; "" = serve.sh's default."""
    res = {"shape": list(SHAPE), "clients": clients, "per_request": facade.BATCH, "qido_n": qido_n, "variants": {}}
    for k, opts in enumerate(variants or [""]):
        label = f"v{k}"
        res["variants"][label] = variant(root, work, label, opts or None, clients, qido_n, seed, templates)
    return res


def markdown_rows(res: dict) -> list[str]:
    rows = []
    for v in res["variants"].values():
        rows.append(row(f"`scripts/serve.sh` [{v['java_opts']}]: start to first /metadata 200 (s): first after a build / "
                        "empty store / 2,000 instances stored",
                        f"{v['start_first_after_build_s']} / {v['start_empty_store_s']} / {v['start_filled_store_s']}",
                        "", "", "report", "—"))
        for when, bar in (("fresh", 1.0), ("warm", 2.0)):
            s = v[when]["stow"]
            rows.append(row(f"… STOW-RS {when}, {s['ours']['instances']} instances, {res['clients']} clients: instances/s",
                            s["ours"]["inst_per_s"], f"{s['orthanc']['inst_per_s']} (Orthanc, {when})",
                            s["ratio_inst_per_s"], f"≥ {bar:g}", met(s["ratio_inst_per_s"] >= bar)))
            for kind, q in v[when]["qido"].items():
                rows.append(row(f"… QIDO {when} {kind}: p95 (ms)", q["ours"]["p95_ms"], q["orthanc"]["p95_ms"],
                                q["ratio_p95"], "≤ 1", met(q["ratio_p95"] <= 1)))
    return rows
