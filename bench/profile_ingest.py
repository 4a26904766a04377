#!/usr/bin/env python3
"""Binary ingest of one server under Java Flight Recorder: what `bench/run.py`'s ingest phases
measure, one server at a time, for comparing two builds or settings back to back.

    target/bench-venv/bin/python bench/profile_ingest.py --jar JAR [--instances 6000] [--jfr OUT.jfr] \
        [-- --server-arg ...]          # e.g. -- --hapi.fhir.custom-bean-packages=   (plain HAPI)

Starts the example server jar (H2, throwaway data directory; the word WORK in a server argument is
replaced by that directory, e.g. --spring.datasource.url=jdbc:h2:file:WORK/h2/fhir), uploads 300
instances of the bench dataset to warm it up, then the rest with 4 clients, prints the statuses and
instances/s, and leaves the recording in --jfr (read it with `jfr print` or JDK Mission Control).
One run's figure varies by about ±5%: compare builds in alternating runs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402  (bootstraps target/bench-venv; puts tests/ on sys.path)
import gen_dataset as gd  # noqa: E402
import server_harness  # noqa: E402

WARM = 300


def process_io(pid: int) -> dict[str, int]:
    """The kernel's I/O counters of a process (/proc/PID/io): wchar = bytes passed to write calls."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return {k: int(v) for k, v in fields.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", type=Path, required=True)
    ap.add_argument("--instances", type=int, default=6000)
    ap.add_argument("--jfr", type=Path, default=Path("/tmp/ingest.jfr"))
    ap.add_argument("--no-jfr", action="store_true", help="no recording (the I/O figures only)")
    ap.add_argument("--clients", type=int, default=bench.CLIENTS)
    ap.add_argument("server_args", nargs="*")
    a = ap.parse_args()
    templates = gd.load_templates()
    bench.TEMPLATES = templates
    items = [d for _, d in gd.render(gd.plan(*gd.shape(a.instances), seed=7), templates)]
    work = tempfile.mkdtemp(prefix="dicomfhir-profile-ingest-", dir="/tmp")
    jfr = [] if a.no_jfr else ["-XX:FlightRecorderOptions=stackdepth=512",
                                f"-XX:StartFlightRecording=filename={a.jfr},settings=profile,dumponexit=true"]
    server = server_harness.Server(a.jar, Path(work), java_opts=["-Xms1g", "-Xmx4g", "-XX:+UseParallelGC", *jfr],
                                   args=[f"--example.data-dir={work}", *(arg.replace("WORK", work) for arg in a.server_args)])
    server.start()
    try:
        try:
            server.wait_ready(900)  # a loaded machine starts slowly
        except server_harness.HarnessError as e:
            print(f"server did not start: {e}", file=sys.stderr)
            return 1
        base = server.base
        bench.upload(base, items[:WARM], a.clients)
        before = process_io(server.proc.pid)
        r = bench.upload(base, items[WARM:], a.clients)
        after = process_io(server.proc.pid)
        # Bytes the server wrote per upload (database, blobs, logs, responses): unlike the rate,
        # this does not depend on how busy the machine is, so builds compare even on a loaded host.
        per = {k: (after[k] - before[k]) / r["n"] for k in ("wchar", "syscw")}
        print(f"statuses {dict(Counter(r['status']))}; {r['n'] / r['wall']:.1f} instances/s; "
              f"written per upload {per['wchar'] / 1024:.1f} KiB in {per['syscw']:.1f} write calls; recording {a.jfr}")
        return 0
    finally:
        server.stop(timeout_s=600)  # SIGTERM: the recording is written at exit
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
