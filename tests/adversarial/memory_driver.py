"""Memory test driver (scripts/memory-test.sh runs it against a server started with -Xmx1g and
the default limits; not a pytest module).

(a) POST /fhir/Binary application/dicom with a 3 GiB body, streamed (Content-Length, then chunked)
    -> a 4xx (413), quickly, not 500;
(b) STOW-RS with two parts of 1.5 GiB each, streamed -> 413 (or per-part failures), not 500;
while a second thread polls /fhir/metadata (worst latency recorded). Afterwards: /metadata 200,
the java process alive, no OutOfMemoryError in the server log. The client holds at most one
256 KiB piece of a body and writes nothing to disk. Exit status 1 on any failure."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adv_util import FAILED_SOP_SEQUENCE, raw_stream, template_bytes, zero_pieces  # noqa: E402

GiB = 1024 ** 3
ANSWER_SECONDS = float(os.environ.get("MEMORY_TEST_ANSWER_SECONDS", "30"))


class Poller(threading.Thread):
    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base = base
        self.stop = threading.Event()
        self.polls = 0
        self.failures: list[str] = []
        self.worst = 0.0

    def run(self):
        s = requests.Session()
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                r = s.get(f"{self.base}/metadata", timeout=60)
                if r.status_code != 200:
                    self.failures.append(f"HTTP {r.status_code}")
            except requests.RequestException as e:
                self.failures.append(type(e).__name__)
            self.worst = max(self.worst, time.monotonic() - t0)
            self.polls += 1
            self.stop.wait(0.5)


def multipart_pieces(boundary: str, part_size: int, parts: int):
    prefix = template_bytes("CT_small.dcm")
    for _ in range(parts):
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        yield from zero_pieces(part_size, prefix=prefix)
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def multipart_length(boundary: str, part_size: int, parts: int) -> int:
    head = len(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
    return parts * (head + part_size + 2) + len(f"--{boundary}--\r\n".encode())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    base = args.base.rstrip("/")
    problems: list[str] = []
    lines: list[str] = []
    poller = Poller(base)
    poller.start()

    def run(label: str, path: str, headers: dict, pieces, total, ok) -> None:
        t0 = time.monotonic()
        try:
            a = raw_stream(base, path, headers, pieces, total, answer_timeout=300)
        except OSError as e:
            problems.append(f"{label}: could not send: {e!r}")
            lines.append(f"{label}: no answer ({e!r}) after {time.monotonic() - t0:.1f}s")
            return
        secs = a.seconds_to_answer
        line = (f"{label}: HTTP {a.status} after {secs if secs is None else round(secs, 1)} s, "
                f"{a.sent / 2**20:.1f} MiB of {'chunked' if total is None else f'{total / 2**20:.0f} MiB'} sent"
                + (f", errors {a.errors}" if a.errors else "")
                + f", body {a.body[:160]!r}")
        lines.append(line)
        print(line, flush=True)
        verdict = ok(a)
        if verdict:
            problems.append(f"{label}: {verdict}")

    def small_4xx(a) -> str | None:
        if a.status is None:
            return f"no HTTP answer: {a.describe()}"
        if not 400 <= a.status < 500:
            return f"expected a 4xx (413), got {a.status}"
        if a.seconds_to_answer is None or a.seconds_to_answer > ANSWER_SECONDS:
            return f"answered after {a.seconds_to_answer} s (limit {ANSWER_SECONDS} s)"
        return None

    def stow_ok(a) -> str | None:
        if a.status is None:
            return f"no HTTP answer: {a.describe()}"
        if a.status == 413:
            return None
        if a.status in (409, 202) and FAILED_SOP_SEQUENCE.encode() in a.body:
            return None
        return f"expected 413 or per-part failures, got {a.status}"

    dicom = {"Content-Type": "application/dicom", "Accept": "application/fhir+json"}
    prefix = template_bytes("CT_small.dcm")
    run("(a) POST /Binary 3 GiB, Content-Length", "Binary", dicom, zero_pieces(3 * GiB, prefix), 3 * GiB, small_4xx)
    run("(a) POST /Binary 3 GiB, chunked", "Binary", dicom, zero_pieces(3 * GiB, prefix), None, small_4xx)
    boundary = f"mem-{uuid.uuid4().hex}"
    part = 3 * GiB // 2
    stow_headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                    "Accept": "application/dicom+json"}
    run("(b) STOW-RS 2 x 1.5 GiB, Content-Length", "dicomweb/studies", stow_headers,
        multipart_pieces(boundary, part, 2), multipart_length(boundary, part, 2), stow_ok)
    run("(b) STOW-RS 2 x 1.5 GiB, chunked", "dicomweb/studies", stow_headers,
        multipart_pieces(boundary, part, 2), None, stow_ok)

    poller.stop.wait(3)
    poller.stop.set()
    poller.join(90)
    try:
        after = requests.get(f"{base}/metadata", timeout=60).status_code
    except requests.RequestException as e:
        after = repr(e)
    if after != 200:
        problems.append(f"/metadata after the big requests: {after}")
    try:
        os.kill(args.pid, 0)
        alive = True
    except OSError:
        alive = False
    if not alive:
        problems.append(f"java process {args.pid} is gone")
    with open(args.log, "rb") as f:
        oom = f.read().count(b"OutOfMemoryError")
    if oom:
        problems.append(f"{oom} OutOfMemoryError in the server log")
    if poller.failures:
        problems.append(f"/metadata failed {len(poller.failures)} times during the big requests: {poller.failures[:5]}")

    print("memory-test summary:")
    for line in lines:
        print(f"  {line}")
    print(f"  /metadata during: {poller.polls} polls, worst latency {poller.worst:.2f} s, {len(poller.failures)} failures; "
          f"after: {after}; java alive: {'yes' if alive else 'NO'}; OutOfMemoryError in log: {oom}")
    for p in problems:
        print(f"  PROBLEM: {p}")
    print("memory-test: FAILED" if problems else "memory-test: PASSED", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
