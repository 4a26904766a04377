"""The per-request floor of the DICOMweb read path on one example server, with and without the
parsed-study cache (`dicomfhir.dicomweb.study-cache-instances`, docs/benchmarks.md "The read
floor"): the same jar and data directory, started once per setting, alternating.

    python3 bench/read_floor.py [--studies 20] [--rounds 50] [--settings 0,20000,0,20000]

Per setting: STOW-RS of `--studies` CT_small copies (first start only: the data directory is
kept), 600 untimed requests (the JVM compiles the path; every thumbnail is then cached by the
server), then `--rounds` passes over the studies' thumbnails (`studies/{uid}/thumbnail`) and
instances' renderings (`…/instances/{sop}/rendered`), with 1 and 4 client threads; requests/s,
p50/p95 and the server process's CPU time per request (/proc; the figure to compare on a shared
machine, where requests/s follow the other engineers' load). The client is bench/render.py's (http.client, keep-alive; its ceiling: some
4,300 requests/s on this machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import render  # noqa: E402
from common import pct  # noqa: E402
from facade import stow_once  # noqa: E402
from server_harness import Server, find_jar  # noqa: E402

JVM = ["-Xms1g", "-Xmx4g", "-XX:+UseParallelGC"]


def copies(template: Path, n: int) -> list[tuple[str, str, str, bytes]]:
    out = []
    for _ in range(n):
        ds = pydicom.dcmread(template)
        study, series, sop = generate_uid(), generate_uid(), generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        import io
        buf = io.BytesIO()
        ds.save_as(buf)
        out.append((study, series, sop, buf.getvalue()))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far (/proc/<pid>/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(urls: list[str], clients: int, pid: int) -> dict:
    """Requests/s and latency (both move with the machine's load), and the server's CPU time per
    request (much less: what a request costs the server, whoever else runs)."""
    cpu = cpu_seconds(pid)
    r = render.hammer(urls, clients)
    cpu = cpu_seconds(pid) - cpu
    if r["bad"]:
        raise RuntimeError(f"{len(r['bad'])} bad answers, e.g. {r['bad'][0]}")
    return {"rps": round(r["n"] / r["wall"], 1), "p50_ms": round(pct(r["lat"], 0.5) * 1000, 2),
            "p95_ms": round(pct(r["lat"], 0.95) * 1000, 2), "cpu_ms_per_req": round(cpu * 1000 / r["n"], 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--settings", default="0,20000,0,20000", help="study-cache-instances per start, in order")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dicomfhir-readfloor-"))
    items = copies(render.data_dir(ROOT) / "pydicom/CT_small.dcm", a.studies)
    server = Server(find_jar(), work, "server", java_opts=JVM)
    try:
        for k, setting in enumerate(a.settings.split(",")):
            server.start(f"--example.data-dir={work / 'data'}", f"--dicomfhir.dicomweb.study-cache-instances={setting}",
                         log_name=f"server-{k}.log")
            server.wait_ready()
            dw = f"{server.base}/dicomweb"
            if k == 0:
                for _, _, _, data in items:
                    status, failed = stow_once(dw, [data])
                    if status != 200 or failed:
                        raise RuntimeError(f"STOW: {status} {failed}")
            thumbs = [f"{dw}/studies/{st}/thumbnail" for st, _, _, _ in items]
            rendered = [f"{dw}/studies/{st}/series/{se}/instances/{sop}/rendered" for st, se, sop, _ in items]
            render.hammer((thumbs + rendered) * (600 // (2 * len(items)) + 1), 4)
            out = {}
            for name, urls in (("thumbnail", thumbs), ("rendered", rendered)):
                for clients in (1, 4):
                    out[f"{name} c{clients}"] = timed(urls * a.rounds, clients, server.proc.pid)
            print(f"[{time.strftime('%H:%M:%S')}] study-cache-instances={setting}: {out}", flush=True)
            server.stop()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
