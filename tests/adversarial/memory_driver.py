"""Memory test driver (scripts/memory-test.sh runs it against a server started with -Xmx1g and
the default limits; not a pytest module).

(a) POST /fhir/Binary application/dicom with a 3 GiB body, streamed (Content-Length, then chunked)
    -> a 4xx (413), quickly, not 500;
(b) STOW-RS with two VALID DICOM parts of 1.5 GiB each (a header, then a 1.5 GiB Pixel Data
    element streamed from a generator) -> 200, both stored: parts above the spool threshold go to
    disk, not the heap (Content-Length); sent again chunked -> 200, the same two instances (stored
    once); then DICOMweb DELETE of the study and $expunge of the two Binaries, which frees their
    blobs (disk stays bounded);
while a second thread polls /fhir/metadata (worst latency recorded). Afterwards: /metadata 200,
the java process alive, no OutOfMemoryError in the server log. The client holds at most one
256 KiB piece of a body and writes nothing to disk. Exit status 1 on any failure."""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import sys
import threading
import time
import uuid

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adv_util import FAILED_SOP_SEQUENCE, raw_stream, summary, template_bytes, zero_pieces  # noqa: E402

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


# A multi-frame grayscale word secondary capture: 768 frames of 1024 x 1024 16-bit pixels = 1.5 GiB.
SC_WORD = "1.2.840.10008.5.1.4.1.1.7.3"
ROWS = COLUMNS = 1024
FRAMES = 768


def _element(tag: tuple[int, int], vr: str, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0" if vr == "UI" else b" "
    head = struct.pack("<HH", *tag) + vr.encode()
    if vr in ("OB", "OW", "OF", "SQ", "UT", "UN"):
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def dicom_header(study: str, series: str, sop: str, patient: str, pixel_bytes: int) -> bytes:
    """Part-10 preamble, meta and data set (Explicit VR LE) up to the Pixel Data value."""
    meta = (_element((2, 1), "OB", b"\0\1") + _element((2, 2), "UI", SC_WORD.encode())
            + _element((2, 3), "UI", sop.encode()) + _element((2, 0x10), "UI", b"1.2.840.10008.1.2.1")
            + _element((2, 0x12), "UI", b"1.2.3.4.5.6"))
    us = lambda v: struct.pack("<H", v)  # noqa: E731
    data = (_element((8, 0x16), "UI", SC_WORD.encode()) + _element((8, 0x18), "UI", sop.encode())
            + _element((8, 0x60), "CS", b"OT") + _element((0x10, 0x10), "PN", b"Memory^Test")
            + _element((0x10, 0x20), "LO", patient.encode()) + _element((0x20, 0x0D), "UI", study.encode())
            + _element((0x20, 0x0E), "UI", series.encode()) + _element((0x20, 0x13), "IS", b"1")
            + _element((0x28, 2), "US", us(1)) + _element((0x28, 4), "CS", b"MONOCHROME2")
            + _element((0x28, 8), "IS", str(FRAMES).encode()) + _element((0x28, 0x10), "US", us(ROWS))
            + _element((0x28, 0x11), "US", us(COLUMNS)) + _element((0x28, 0x100), "US", us(16))
            + _element((0x28, 0x101), "US", us(16)) + _element((0x28, 0x102), "US", us(15))
            + _element((0x28, 0x103), "US", us(0)))
    pixel_head = struct.pack("<HH", 0x7FE0, 0x0010) + b"OW\0\0" + struct.pack("<I", pixel_bytes)
    return b"\0" * 128 + b"DICM" + _element((2, 0), "UL", struct.pack("<I", len(meta))) + meta + data + pixel_head


class LargeStudy:
    """Two valid instances of one study, each a header and FRAMES frames of zeros, streamed."""

    def __init__(self):
        root = "2.25." + str(uuid.uuid4().int)
        self.study, self.series = root[:60] + ".1", root[:60] + ".2"
        self.sops = [root[:60] + ".3", root[:60] + ".4"]
        self.patient = "MEM-" + uuid.uuid4().hex[:12]
        self.pixel_bytes = ROWS * COLUMNS * 2 * FRAMES
        self.headers = [dicom_header(self.study, self.series, sop, self.patient, self.pixel_bytes) for sop in self.sops]
        self.part_size = len(self.headers[0]) + self.pixel_bytes
        self.sha256: list[str] = []

    def pieces(self, boundary: str):
        """The multipart body; records each part's SHA-256 (its Binary id) as it goes."""
        self.sha256 = []
        for header in self.headers:
            yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            h = hashlib.sha256()
            for piece in zero_pieces(self.part_size, prefix=header):
                h.update(piece)
                yield piece
            self.sha256.append(h.hexdigest())
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    def length(self, boundary: str) -> int:
        return multipart_length(boundary, self.part_size, len(self.headers))


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

    large = LargeStudy()

    def stow_stored(a) -> str | None:
        if a.status is None:
            return f"no HTTP answer: {a.describe()}"
        if a.status != 200:
            return f"expected 200 (both instances stored), got {a.status}"
        missing = [sop for sop in large.sops if sop.encode() not in a.body]
        if missing or FAILED_SOP_SEQUENCE.encode() in a.body:
            return f"instances not reported stored: {missing}"
        return None

    dicom = {"Content-Type": "application/dicom", "Accept": "application/fhir+json"}
    prefix = template_bytes("CT_small.dcm")
    run("(a) POST /Binary 3 GiB, Content-Length", "Binary", dicom, zero_pieces(3 * GiB, prefix), 3 * GiB, small_4xx)
    run("(a) POST /Binary 3 GiB, chunked", "Binary", dicom, zero_pieces(3 * GiB, prefix), None, small_4xx)
    boundary = f"mem-{uuid.uuid4().hex}"
    stow_headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                    "Accept": "application/dicom+json"}
    run("(b) STOW-RS 2 x 1.5 GiB valid DICOM, Content-Length", "dicomweb/studies", stow_headers,
        large.pieces(boundary), large.length(boundary), stow_stored)
    run("(b) STOW-RS 2 x 1.5 GiB valid DICOM again, chunked", "dicomweb/studies", stow_headers,
        large.pieces(boundary), None, stow_stored)
    http = requests.Session()
    try:
        q = http.get(f"{base}/dicomweb/studies/{large.study}/instances", headers={"Accept": "application/dicom+json"}, timeout=120)
        listed = sorted(i.get("00080018", {}).get("Value", [None])[0] for i in q.json()) if q.status_code == 200 else q.status_code
        lines.append(f"(b) QIDO instances of the study: {listed}")
        if listed != sorted(large.sops):
            problems.append(f"(b) the study lists {listed}, expected {sorted(large.sops)}")
        d = http.delete(f"{base}/dicomweb/studies/{large.study}", timeout=300)
        lines.append(f"(b) DICOMweb DELETE of the study: HTTP {d.status_code}")
        if d.status_code != 204:
            problems.append(f"(b) DELETE of the study: HTTP {d.status_code} {d.text[:200]}")
        for sha in large.sha256:
            # the Provenance of the study writes references the Binary: expunge fails while it exists
            found = http.get(f"{base}/Provenance", params={"entity": f"Binary/{sha}", "_elements": "id", "_count": "200"},
                             headers={"Accept": "application/fhir+json"}, timeout=120).json()
            for entry in found.get("entry", []):
                http.delete(f"{base}/Provenance/{entry['resource']['id']}", timeout=120)
            e = http.post(f"{base}/Binary/{sha}/$expunge", timeout=300, headers={"Content-Type": "application/fhir+json"},
                          json={"resourceType": "Parameters", "parameter": [
                              {"name": "expungeDeletedResources", "valueBoolean": True},
                              {"name": "expungePreviousVersions", "valueBoolean": True}]})
            lines.append(f"(b) $expunge Binary/{sha[:12]}…: HTTP {e.status_code}")
            if e.status_code != 200:
                problems.append(f"(b) $expunge of Binary/{sha}: HTTP {e.status_code} {e.text[:200]}")
    except (requests.RequestException, ValueError) as e:
        problems.append(f"(b) checking and removing the stored study failed: {e!r}")

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

    lines.append(f"/metadata during: {poller.polls} polls, worst latency {poller.worst:.2f} s, {len(poller.failures)} failures; "
                 f"after: {after}; java alive: {'yes' if alive else 'NO'}; OutOfMemoryError in log: {oom}")
    return summary("memory-test", lines + [f"PROBLEM: {p}" for p in problems], bool(problems))


if __name__ == "__main__":
    sys.exit(main())
