"""Upload rate of the CLI (`--jobs 4`) vs a trivial Python thread pool of 4 POSTing the same kind
of files (copies of CT_small with new UIDs; each side gets its own copies, so both store new
instances). Not a test: run it by hand against a running server.

    python tests/python/bench_upload.py --server http://127.0.0.1:8080/fhir --count 500 --rounds 4
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from dicom_copies import write_copies

ROOT = Path(__file__).resolve().parents[2]


def make_copies(src: Path, folder: Path, n: int) -> list[Path]:
    return write_copies(src, folder, n)[0]


def python_pool(server: str, paths: list[Path], jobs: int) -> float:
    local = __import__("threading").local()

    def post(p: Path):
        s = getattr(local, "s", None) or setattr(local, "s", requests.Session()) or local.s
        r = s.post(f"{server}/Binary", data=p.read_bytes(), timeout=300,
                   headers={"Content-Type": "application/dicom", "Prefer": "return=minimal"})
        assert r.status_code in (200, 201), r.text[:300]

    start = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(post, paths))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=300, help="instances sent first, not counted (JIT warm-up)")
    ap.add_argument("--cli", default=str(ROOT / "target" / "release" / "dicom-fhir"))
    ap.add_argument("--src", default=str(ROOT / ".data" / "pydicom" / "CT_small.dcm"))
    args = ap.parse_args()
    cli_total = py_total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        if args.warmup:
            python_pool(args.server, make_copies(Path(args.src), Path(tmp) / "warmup", args.warmup), args.jobs)
        for round_ in range(args.rounds):
            a = make_copies(Path(args.src), Path(tmp) / f"cli{round_}", args.count)
            b = make_copies(Path(args.src), Path(tmp) / f"py{round_}", args.count)
            # alternate which side goes first (the JVM keeps warming up)
            if round_ % 2:
                py_s = python_pool(args.server, b, args.jobs)
            start = time.perf_counter()
            r = subprocess.run([args.cli, "upload", str(a[0].parent), "--server", args.server, "--jobs",
                                str(args.jobs), "-q"], capture_output=True, text=True)
            cli_s = time.perf_counter() - start
            if r.returncode != 0:
                sys.exit(r.stdout + r.stderr)
            if not round_ % 2:
                py_s = python_pool(args.server, b, args.jobs)
            print(f"round {round_ + 1}: CLI --jobs {args.jobs}: {args.count / cli_s:.1f} instances/s "
                  f"(wall {cli_s:.1f} s, incl. scan + resume check); "
                  f"python requests pool of {args.jobs}: {args.count / py_s:.1f} instances/s (wall {py_s:.1f} s)")
            print("   CLI summary:", " | ".join(l.strip() for l in r.stdout.splitlines()[1:4]))
            cli_total, py_total = cli_total + cli_s, py_total + py_s
    n = args.count * args.rounds
    print(f"total: CLI --jobs {args.jobs}: {n / cli_total:.1f} instances/s; python requests pool of {args.jobs}: "
          f"{n / py_total:.1f} instances/s; CLI / pool = {py_total / cli_total:.2f}")


if __name__ == "__main__":
    main()
