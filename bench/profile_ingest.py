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
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402  (bootstraps target/bench-venv)
import gen_dataset as gd  # noqa: E402

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
    port = bench.free_port()
    jfr = [] if a.no_jfr else ["-XX:FlightRecorderOptions=stackdepth=512",
                                f"-XX:StartFlightRecording=filename={a.jfr},settings=profile,dumponexit=true"]
    cmd = ["java", "-Xms1g", "-Xmx4g", "-XX:+UseParallelGC", *jfr,
           "-jar", str(a.jar), "--server.address=127.0.0.1", f"--server.port={port}", f"--example.data-dir={work}"]
    cmd += [arg.replace("WORK", work) for arg in a.server_args]
    log = open(Path(work) / "server.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.time() + 900  # a loaded machine starts slowly
        while True:
            try:
                if requests.get(f"{base}/metadata", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.time() > deadline:
                print(f"server did not start; log: {work}/server.log", file=sys.stderr)
                return 1
            time.sleep(1)
        bench.upload(base, items[:WARM], a.clients)
        before = process_io(server.pid)
        r = bench.upload(base, items[WARM:], a.clients)
        after = process_io(server.pid)
        # Bytes the server wrote per upload (database, blobs, logs, responses): unlike the rate,
        # this does not depend on how busy the machine is, so builds compare even on a loaded host.
        per = {k: (after[k] - before[k]) / r["n"] for k in ("wchar", "syscw")}
        print(f"statuses {dict(Counter(r['status']))}; {r['n'] / r['wall']:.1f} instances/s; "
              f"written per upload {per['wchar'] / 1024:.1f} KiB in {per['syscw']:.1f} write calls; recording {a.jfr}")
        return 0
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
