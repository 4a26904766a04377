"""The per-request floor of the DICOMweb read path on one example server, with and without the
parsed-study cache (`dicomfhir.dicomweb.study-cache-instances`, docs/benchmarks.md "The read
floor"): the same jar and data directory, started once per setting, alternating.

    python3 bench/read_floor.py [--studies 20] [--rounds 50] [--settings 0,20000,0,20000]
    python3 bench/read_floor.py --jars BEFORE.jar,AFTER.jar,BEFORE.jar,AFTER.jar --settings 20000   # two builds, alternating
    python3 bench/read_floor.py --property dicomfhir.dicomweb.rendered-cache-bytes --settings 0,67108864,0,67108864

`--jars` (one per start, cycled) compares builds on the same data directory; `--property` names the
setting `--settings` gives values of (cycled too); `--jfr DIR` records each start with Java Flight
Recorder (DIR/start-<k>.jfr).

Per setting: STOW-RS of `--studies` CT_small copies (first start only: the data directory is
kept), 600 untimed requests (the JVM compiles the path; every thumbnail is then cached by the
server), then `--rounds` passes over the studies' thumbnails (`studies/{uid}/thumbnail`) and
instances' renderings (`…/instances/{sop}/rendered`), with 1 and 4 client threads, and the same
thumbnails refused (406, `?accept=image/gif`: the HTTP/servlet floor); requests/s,
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


def timed_refusals(urls: list[str], clients: int, pid: int) -> dict:
    """As timed(), for requests the facade refuses with 406 before reading anything (a thumbnail
    with ?accept=image/gif): Tomcat, HAPI's RestfulServer and the facade's dispatch, no study, no
    Binary, no image. The floor under a cached thumbnail."""
    from concurrent.futures import ThreadPoolExecutor
    cpu = cpu_seconds(pid)
    lat = [0.0] * len(urls)
    bad = []

    def one(k: int):
        t, r = render.fetch(urls[k])
        lat[k] = t
        if r.status_code != 406:
            bad.append(f"{r.status_code} {r.content[:120]!r}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(len(urls))))
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu
    if bad:
        raise RuntimeError(f"{len(bad)} bad answers, e.g. {bad[0]}")
    return {"rps": round(len(urls) / wall, 1), "p50_ms": round(pct(lat, 0.5) * 1000, 2),
            "p95_ms": round(pct(lat, 0.95) * 1000, 2), "cpu_ms_per_req": round(cpu * 1000 / len(urls), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--settings", default="0,20000,0,20000", help="values of --property per start, in order (cycled)")
    ap.add_argument("--property", default="dicomfhir.dicomweb.study-cache-instances")
    ap.add_argument("--jars", default="", help="server jars, one per start (cycled); default: the built one")
    ap.add_argument("--jfr", default="", help="a directory: record each start with Java Flight Recorder")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dicomfhir-readfloor-"))
    items = copies(render.data_dir(ROOT) / "pydicom/CT_small.dcm", a.studies)
    jars = [Path(j) for j in a.jars.split(",") if j] or [find_jar()]
    settings = a.settings.split(",")
    server = None
    try:
        for k in range(max(len(jars), len(settings))):
            jar, setting = jars[k % len(jars)], settings[k % len(settings)]
            opts = list(JVM)
            if a.jfr:
                Path(a.jfr).mkdir(parents=True, exist_ok=True)
                opts.append("-XX:FlightRecorderOptions=stackdepth=512")
                opts.append(f"-XX:StartFlightRecording=filename={Path(a.jfr).resolve() / f'start-{k}.jfr'},settings=profile")
            server = Server(jar, work, "server", java_opts=opts)
            server.start(f"--example.data-dir={work / 'data'}", f"--{a.property}={setting}", log_name=f"server-{k}.log")
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
            out["406 floor c4"] = timed_refusals([u + "?accept=image/gif" for u in thumbs] * a.rounds, 4, server.proc.pid)
            print(f"[{time.strftime('%H:%M:%S')}] {jar.name} {a.property}={setting}: {out}", flush=True)
            server.stop()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
