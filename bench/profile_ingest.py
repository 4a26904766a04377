#!/usr/bin/env python3
"""Binary ingest of one server under Java Flight Recorder: what `bench/run.py`'s ingest phases
measure, one server at a time, for comparing two builds or settings back to back.

    target/bench-venv/bin/python bench/profile_ingest.py --jar JAR [--instances 6000] [--jfr OUT.jfr] \
        [--stow] [--fresh] [--java-opts "..."] [-- --server-arg ...]   # e.g. -- --hapi.fhir.custom-bean-packages=   (plain HAPI)

Starts the example server jar (H2, throwaway data directory; the word WORK in a server argument is
replaced by that directory, e.g. --spring.datasource.url=jdbc:h2:file:WORK/h2/fhir), uploads 300
instances of the bench dataset to warm it up, then the rest with 4 clients, prints the statuses and
instances/s, and leaves the recording in --jfr (read it with `jfr print` or JDK Mission Control).
One run's figure varies by about ±5%: compare builds in alternating runs.

--stow sends the instances as the facade bench does (STOW-RS, 50 per multipart request, 4
clients; bench/facade.py) instead of one Binary per request. --fresh times the first instances the
server receives (no warm-up upload), as a user meets a server just started. Besides the rate it
prints the server's CPU time per instance (user + system of every thread, from the first upload
until the server is idle again, so the deferred study writes are counted): on a shared machine
that figure moves far less with the load than the rate does. It includes whatever else the server
does meanwhile, notably HAPI's search parameter identity fill after a start on an empty database
(seconds of CPU, and on a loaded machine it runs into the timed part): bench/jfr_stow.py on the
recording tells its share.
"""

from __future__ import annotations

import argparse
import os
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
from common import settle  # noqa: E402

WARM = 300


def process_io(pid: int) -> dict[str, int]:
    """The kernel's I/O counters of a process (/proc/PID/io): wchar = bytes passed to write calls."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return {k: int(v) for k, v in fields.items()}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", type=Path, required=True)
    ap.add_argument("--instances", type=int, default=6000)
    ap.add_argument("--jfr", type=Path, default=Path("/tmp/ingest.jfr"))
    ap.add_argument("--no-jfr", action="store_true", help="no recording (the I/O figures only)")
    ap.add_argument("--clients", type=int, default=bench.CLIENTS)
    ap.add_argument("--stow", action="store_true", help="STOW-RS, 50 instances per request (bench/facade.py)")
    ap.add_argument("--fresh", action="store_true", help="no warm-up: time the first instances the server gets")
    ap.add_argument("--java-opts", default="-Xms1g -Xmx4g -XX:+UseParallelGC",
                    help="the server's JVM options (serve.sh's: -XX:TieredStopAtLevel=1 -XX:+UseParallelGC)")
    ap.add_argument("server_args", nargs="*")
    a = ap.parse_args()
    templates = gd.load_templates()
    bench.TEMPLATES = templates
    items = [d for _, d in gd.render(gd.plan(*gd.shape(a.instances), seed=7), templates)]
    work = tempfile.mkdtemp(prefix="dicomfhir-profile-ingest-", dir="/tmp")
    jfr = [] if a.no_jfr else ["-XX:FlightRecorderOptions=stackdepth=512",
                                f"-XX:StartFlightRecording=filename={a.jfr},settings=profile,dumponexit=true"]
    server = server_harness.Server(a.jar, Path(work), java_opts=[*a.java_opts.split(), *jfr],
                                   args=[f"--example.data-dir={work}", *(arg.replace("WORK", work) for arg in a.server_args)])
    server.start()
    try:
        try:
            server.wait_ready(900)  # a loaded machine starts slowly
        except server_harness.HarnessError as e:
            print(f"server did not start: {e}", file=sys.stderr)
            return 1
        base = server.base
        pid = server.proc.pid
        if a.stow:
            import facade  # noqa: E402
            send = lambda batch: facade.stow(f"{base}/dicomweb", batch, a.clients)  # noqa: E731
        else:
            send = lambda batch: bench.upload(base, batch, a.clients)  # noqa: E731
        timed = items if a.fresh else items[WARM:]
        if not a.fresh:
            send(items[:WARM])
            # HAPI fills its search parameter identity table after a start on an empty database
            # (minutes on a loaded machine): its CPU time is not an instance's
            settle([pid], max_s=600)
        before, cpu0 = process_io(pid), process_cpu_s(pid)
        r = send(timed)
        after = process_io(pid)
        settle([pid])  # the study writes after the answers are part of an instance's cost
        cpu = process_cpu_s(pid) - cpu0
        # Bytes the server wrote per upload (database, blobs, logs, responses): unlike the rate,
        # this does not depend on how busy the machine is, so builds compare even on a loaded host.
        per = {k: (after[k] - before[k]) / r["n"] for k in ("wchar", "syscw")}
        print(f"statuses {dict(Counter(r['status']))}; {r['n'] / r['wall']:.1f} instances/s; "
              f"server CPU {1000 * cpu / r['n']:.2f} ms per instance; "
              f"written per upload {per['wchar'] / 1024:.1f} KiB in {per['syscw']:.1f} write calls; recording {a.jfr}")
        return 0
    finally:
        server.stop(timeout_s=600)  # SIGTERM: the recording is written at exit
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
