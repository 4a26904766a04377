#!/usr/bin/env python3
"""The QIDO attribute index, before and after, on one server at a time (docs/architecture.md,
"The instance-level attribute index"):

    target/bench-venv/bin/python bench/qido_index.py --jar JAR [--instances 10000] [--queries 40]
        [--baseline-jar JAR0] [--jfr]

Starts the example server jar (H2, throwaway directory), uploads the bench dataset
(bench/gen_dataset.py: 5 series of 10 per study, 40 StationNames) as Binaries with 4 clients after
300 warm-up uploads, prints the bytes the server wrote per upload (like bench/profile_ingest.py),
then times `series?StationName=…` and `studies?PatientID=…` (bench/facade.py's queries; 10
untimed of each first, then interleaved, one client) and prints p50/p95 of each and their ratio.

--baseline-jar: a second server (another build) with the same data; the queries then alternate
between the two servers, so both are timed in the same minutes of a shared machine. Besides the
latencies, the server's CPU time per query (/proc/PID/stat, every thread) is printed: on a
machine shared with other work it moves far less than the wall-clock p95.
--jfr: afterwards, `series?StationName` for 30 s more under Java Flight Recorder on the --jar
server, and where its request threads' samples went (bench/profile_facade.py's method shares).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402  (bootstraps target/bench-venv; puts tests/ on sys.path)
import facade  # noqa: E402
import gen_dataset as gd  # noqa: E402
import server_harness  # noqa: E402
import profile_facade  # noqa: E402
from profile_ingest import WARM, process_io  # noqa: E402

TYPES = ("series?StationName", "studies?PatientID")


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


# Inside the QIDO request, besides profile_facade.METHODS: where a series-level query's time goes.
QIDO_METHODS = [
    "org.dicomfhir.hapi.dicomweb.StudyStore.searchAll",
    "org.dicomfhir.hapi.dicomweb.StudyStore.searchCached",
    "org.dicomfhir.hapi.dicomweb.QidoService.encodeWithoutInstances",
    "org.dicomfhir.hapi.studywrite.AttributeIndex.candidateStudies",
    "org.dicomfhir.hapi.lookup.StudyVersionLookup",
    "org.dicomfhir.hapi.access.StudyAccess",
    "ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor",
    "ca.uhn.fhir.jpa.search.builder.SearchBuilder",
    "ca.uhn.fhir.jpa.dao.JpaStorageResourceParser.toResource",
    "org.hl7.fhir.r4.model.ImagingStudy.copy",
    "org.dicomfhir.bridge.DicomNative.qidoAnswer",
    "org.dicomfhir.bridge.DicomNative.qidoPlan",
]


def cpu_ms(pid: int) -> float:
    """User + system CPU time of the process so far (all its threads), ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def load(jar: Path, items: list) -> tuple:
    work = tempfile.mkdtemp(prefix="dicomfhir-qido-index-", dir="/tmp")
    server = server_harness.Server(jar, Path(work), java_opts=["-Xms1g", "-Xmx4g", "-XX:+UseParallelGC"],
                                   args=[f"--example.data-dir={work}"])
    server.start()
    server.wait_ready(900)
    base = server.base
    bench.upload(base, items[:WARM], 4)
    before = process_io(server.proc.pid)
    r = bench.upload(base, items[WARM:], 4)
    after = process_io(server.proc.pid)
    per = {k: (after[k] - before[k]) / r["n"] for k in ("wchar", "syscw")}
    print(f"{jar.name}: statuses {dict(Counter(r['status']))}; {r['n'] / r['wall']:.1f} instances/s; "
          f"written per upload {per['wchar'] / 1024:.1f} KiB in {per['syscw']:.1f} write calls", flush=True)
    return server, work


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", type=Path, required=True)
    ap.add_argument("--baseline-jar", type=Path)
    ap.add_argument("--instances", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--jfr", action="store_true")
    a = ap.parse_args()
    templates = gd.load_templates()
    bench.TEMPLATES = templates
    studies = gd.plan(*gd.shape(a.instances), seed=7)
    items = [d for _, d in gd.render(studies, templates)]
    jars = [a.jar] + ([a.baseline_jar] if a.baseline_jar else [])
    servers = []
    try:
        for jar in jars:
            servers.append(load(jar, items))
        queries = facade.qido_queries(studies, a.queries + 10, seed=7)
        s = bench.session()
        names = [f"{j.name} ({'baseline' if i else 'measured'})" for i, j in enumerate(jars)]
        times = {(n, t): [] for n in names for t in TYPES}
        cpu = {(n, t): [] for n in names for t in TYPES}  # the server's CPU time per query: robust to a shared machine
        counts = {(n, t): [] for n in names for t in TYPES}
        for k in range(a.queries + 10):
            for n, (server, _) in zip(names, servers):
                for t in TYPES:
                    c0 = cpu_ms(server.proc.pid)
                    t0 = time.perf_counter()
                    resp = s.get(f"{server.base}/dicomweb/{queries[t][k]}", headers={"Accept": "application/dicom+json"},
                                 timeout=600)
                    dt = time.perf_counter() - t0
                    dc = cpu_ms(server.proc.pid) - c0
                    if resp.status_code != 200:
                        print(f"{queries[t][k]}: {resp.status_code} {resp.text[:300]}", file=sys.stderr)
                        return 1
                    if k >= 10:
                        times[n, t].append(dt * 1000)
                        cpu[n, t].append(dc)
                        counts[n, t].append(len(resp.json()))
        for n in names:
            for t in TYPES:
                print(f"{n} {t}: p50 {statistics.median(times[n, t]):.1f} ms, p95 {p95(times[n, t]):.1f} ms "
                      f"({len(times[n, t])} queries, {statistics.mean(counts[n, t]):.1f} results on average)")
            print(f"{n} ratio of p95s (StationName / PatientID): {p95(times[n, TYPES[0]]) / p95(times[n, TYPES[1]]):.2f}")
            c = {t: statistics.mean(cpu[n, t]) for t in TYPES}
            print(f"{n} server CPU per query (all threads, mean): {c[TYPES[0]]:.1f} ms StationName, {c[TYPES[1]]:.1f} ms PatientID, "
                  f"ratio {c[TYPES[0]] / max(c[TYPES[1]], 0.01):.2f}")
        if len(names) == 2 and counts[names[0], TYPES[0]] != counts[names[1], TYPES[0]]:
            print("the two servers' StationName answers differ in size", file=sys.stderr)
            return 1
        if a.jfr:
            server = servers[0][0]
            jfr = Path(servers[0][1]) / "qido.jfr"
            subprocess.run(["jcmd", str(server.proc.pid), "JFR.start", "name=q", "settings=profile", f"filename={jfr}"],
                           check=True, capture_output=True)
            t0, k, lat = time.time(), 0, []
            while time.time() - t0 < 30:
                q0 = time.perf_counter()
                s.get(f"{server.base}/dicomweb/{queries[TYPES[0]][k % len(queries[TYPES[0]])]}",
                      headers={"Accept": "application/dicom+json"}, timeout=600).raise_for_status()
                lat.append((time.perf_counter() - q0) * 1000)
                k += 1
            subprocess.run(["jcmd", str(server.proc.pid), "JFR.stop", "name=q"], check=True, capture_output=True)
            profile_facade.METHODS.extend(m for m in QIDO_METHODS if m not in profile_facade.METHODS)
            shares = profile_facade.jfr_shares(jfr)
            print(f"JFR, series?StationName for 30 s on {names[0]}: {len(lat)} requests, mean {statistics.mean(lat):.1f} ms")
            print(json.dumps(shares, indent=1))
        return 0
    finally:
        for server, work in servers:
            server.stop(timeout_s=600)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
