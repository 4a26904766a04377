#!/usr/bin/env python3
"""The QIDO attribute index, before and after, on one server at a time (docs/architecture.md,
"The instance-level attribute index"):

    target/bench-venv/bin/python bench/qido_index.py --jar JAR [--instances 10000] [--queries 40]

Starts the example server jar (H2, throwaway directory), uploads the bench dataset
(bench/gen_dataset.py: 5 series of 10 per study, 40 StationNames) as Binaries with 4 clients after
300 warm-up uploads, prints the bytes the server wrote per upload (like bench/profile_ingest.py),
then times `series?StationName=…` and `studies?PatientID=…` (bench/facade.py's queries; 10
untimed of each first, then interleaved, one client) and prints p50/p95 of each and their ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
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
from profile_ingest import WARM, process_io  # noqa: E402

TYPES = ("series?StationName", "studies?PatientID")


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", type=Path, required=True)
    ap.add_argument("--instances", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=40)
    a = ap.parse_args()
    templates = gd.load_templates()
    bench.TEMPLATES = templates
    studies = gd.plan(*gd.shape(a.instances), seed=7)
    items = [d for _, d in gd.render(studies, templates)]
    work = tempfile.mkdtemp(prefix="dicomfhir-qido-index-", dir="/tmp")
    server = server_harness.Server(a.jar, Path(work), java_opts=["-Xms1g", "-Xmx4g", "-XX:+UseParallelGC"],
                                   args=[f"--example.data-dir={work}"])
    server.start()
    try:
        server.wait_ready(900)
        base = server.base
        bench.upload(base, items[:WARM], 4)
        before = process_io(server.proc.pid)
        r = bench.upload(base, items[WARM:], 4)
        after = process_io(server.proc.pid)
        per = {k: (after[k] - before[k]) / r["n"] for k in ("wchar", "syscw")}
        print(f"statuses {dict(Counter(r['status']))}; {r['n'] / r['wall']:.1f} instances/s; "
              f"written per upload {per['wchar'] / 1024:.1f} KiB in {per['syscw']:.1f} write calls", flush=True)
        queries = facade.qido_queries(studies, a.queries + 10, seed=7)
        s = bench.session()
        times: dict[str, list[float]] = {t: [] for t in TYPES}
        counts: dict[str, list[int]] = {t: [] for t in TYPES}
        for k in range(a.queries + 10):
            for t in TYPES:
                t0 = time.perf_counter()
                resp = s.get(f"{base}/dicomweb/{queries[t][k]}", headers={"Accept": "application/dicom+json"}, timeout=600)
                dt = time.perf_counter() - t0
                if resp.status_code != 200:
                    print(f"{queries[t][k]}: {resp.status_code} {resp.text[:300]}", file=sys.stderr)
                    return 1
                if k >= 10:
                    times[t].append(dt * 1000)
                    counts[t].append(len(resp.json()))
        for t in TYPES:
            print(f"{t}: p50 {statistics.median(times[t]):.1f} ms, p95 {p95(times[t]):.1f} ms "
                  f"({len(times[t])} queries, {statistics.mean(counts[t]):.1f} results on average)")
        print(f"ratio of p95s (StationName / PatientID): {p95(times[TYPES[0]]) / p95(times[TYPES[1]]):.2f}")
        return 0
    finally:
        server.stop(timeout_s=600)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
