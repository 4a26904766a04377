"""Crash test driver (scripts/crash-test.sh runs it; not a pytest module).

Round 1: start the server on data dir D with --dicomfhir.node-id=crash-a; 8 uploader threads POST
distinct instances (10 studies, 2 series each, fresh UIDs from CT_small.dcm); after >= MIN_ACKED
acknowledged uploads the java process is SIGKILLed while uploads are in flight; the server is
restarted on D with the same node id. Round 2: more uploads into the restarted server, SIGKILL,
restart under another node id (crash-b). After each restart: wait until $dicom-status says
pending 0 (a server without $dicom-status: until the listing is stable), then check that
 - every acknowledged instance is listed exactly once in its ImagingStudy, as Binary/<its sha256>;
 - GET Binary/<sha> returns bytes whose SHA-256 is sha;
 - no ImagingStudy lists a Binary that does not exist;
 - `dicom-fhir verify --server <base>` exits 0 (when the CLI binary exists).
Prints one summary line per round; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import requests
from pydicom.uid import generate_uid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import server_harness as harness  # noqa: E402
from adv_util import (DICOM, FHIR_JSON, binary_refs, ref_id, status_parameters,  # noqa: E402
                      summary, template_bytes)

STUDIES = 10
SERIES_PER_STUDY = 2
THREADS = 8


def log(msg: str) -> None:
    print(f"[crash {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Acked:
    sha: str
    study: str
    sop: str
    round: int


class Server(harness.Server):
    """The example server of the test (tests/server_harness.py), started under a node id, one log
    file per start."""

    def __init__(self, jar: str, data_dir: str, port: int, java_opts: list[str], log_dir: str,
                 extra_args: list[str]):
        super().__init__(Path(jar), Path(log_dir), port=port, java_opts=java_opts,
                         args=[f"--example.data-dir={data_dir}", *extra_args])
        self.starts = 0

    def start(self, node_id: str, deadline_s: float = 300) -> None:
        self.starts += 1
        super().start(f"--dicomfhir.node-id={node_id}", log_name=f"server-{self.starts}-{node_id}.log")
        try:
            self.wait_ready(deadline_s)
        except harness.HarnessError as e:
            raise RuntimeError(f"server ({node_id}): {e}") from None
        log(f"server up as {node_id} (pid {self.proc.pid}) on {self.base}")

    def sigkill(self) -> None:
        self.kill9()
        log(f"SIGKILLed java pid {self.proc.pid}")


class Generator:
    """Distinct instances of STUDIES studies, round-robin, thread-safe."""

    def __init__(self, studies: list[str], series: dict[str, list[str]]):
        self.studies = studies
        self.series = series
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    def next(self) -> tuple[str, str, bytes]:
        with self.lock:
            k = next(self.counter)
        ds = pydicom.dcmread(io.BytesIO(template_bytes("CT_small.dcm")))
        study = self.studies[k % len(self.studies)]
        se = (k // len(self.studies)) % SERIES_PER_STUDY
        sop = generate_uid()
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = self.series[study][se]
        ds.SeriesNumber = se + 1
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.InstanceNumber = k
        ds.PatientID = f"CRASH{self.studies.index(study)}"
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        return study, sop, buf.getvalue()


@dataclass
class RoundUploads:
    acked: list[Acked] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)


def upload_until_killed(server: Server, gen: Generator, rnd: int, min_acked: int) -> RoundUploads:
    result = RoundUploads()
    lock = threading.Lock()
    killed = threading.Event()
    enough = threading.Event()

    def worker():
        s = requests.Session()
        while not killed.is_set():
            study, sop, data = gen.next()
            try:
                r = s.post(f"{server.base}/Binary", data=data, timeout=120,
                           headers={"Content-Type": DICOM, "Accept": FHIR_JSON, "Prefer": "return=minimal"})
            except requests.RequestException as e:
                with lock:
                    result.errors[type(e).__name__] += 1
                if killed.is_set():
                    return
                continue
            with lock:
                if 200 <= r.status_code < 300:
                    result.acked.append(Acked(hashlib.sha256(data).hexdigest(), study, sop, rnd))
                    if len(result.acked) >= min_acked:
                        enough.set()
                else:
                    result.refused.append(f"{sop}: HTTP {r.status_code} {r.text[:200]!r}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    if not enough.wait(900):
        killed.set()
        raise RuntimeError(f"round {rnd}: only {len(result.acked)} acknowledged uploads in 900 s")
    with lock:
        at_kill = len(result.acked)
    server.sigkill()
    killed.set()
    for t in threads:
        t.join(180)
    log(f"round {rnd}: {at_kill} acknowledged when killed, {len(result.acked)} in all; "
        f"errors {dict(result.errors)}, refused {len(result.refused)}")
    return result


def get_json(base: str, path: str) -> tuple[int, dict]:
    r = requests.get(f"{base}/{path}", headers={"Accept": FHIR_JSON}, timeout=120)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, {}


def listing(base: str, studies: list[str]) -> dict[str, list[tuple[str, str | None]]]:
    out = {}
    for uid in studies:
        status, body = get_json(base, f"ImagingStudy/{uid}")
        out[uid] = binary_refs(body) if status == 200 else []
    return out


def wait_settled(base: str, studies: list[str], deadline_s: float = 180) -> str:
    """Until $dicom-status says pending 0; without that endpoint, until the listing is unchanged
    for 15 s. Returns how it settled."""
    deadline = time.monotonic() + deadline_s
    status, values = status_parameters(requests.Session(), base)
    if status == 200:
        zero_in_a_row = 0
        while time.monotonic() < deadline:
            status, values = status_parameters(requests.Session(), base)
            zero_in_a_row = zero_in_a_row + 1 if status == 200 and values.get("pending") == 0 else 0
            if zero_in_a_row >= 2:   # two polls a second apart
                return f"$dicom-status pending 0 (failed {values.get('failed')})"
            time.sleep(1)
        return f"NOT SETTLED: $dicom-status still {values} after {deadline_s}s"
    log(f"$dicom-status answers HTTP {status}: waiting for a stable listing instead")
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = listing(base, studies)
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= 15:
            return f"no $dicom-status (HTTP {status}); listing stable for 15 s"
        time.sleep(3)
    return f"no $dicom-status (HTTP {status}); listing still changing after {deadline_s}s"


def check(base: str, studies: list[str], acked: list[Acked], cli: str | None) -> tuple[str, list[str]]:
    problems: list[str] = []
    lists = listing(base, studies)
    # Every ImagingStudy of the server, not just ours (the data dir is this test's own).
    s = requests.Session()
    all_studies = {}
    url = f"{base}/ImagingStudy?_count=200"
    while url:
        r = s.get(url, headers={"Accept": FHIR_JSON}, timeout=120)
        if r.status_code != 200:
            problems.append(f"ImagingStudy search: HTTP {r.status_code}")
            break
        bundle = r.json()
        for e in bundle.get("entry", []):
            res = e.get("resource") or {}
            if res.get("resourceType") == "ImagingStudy":
                all_studies[res["id"]] = binary_refs(res)
        url = next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)
    lists.update({k: v for k, v in all_studies.items() if k not in lists})

    listed_count = 0
    missing, wrong, dupes = [], [], []
    for a in acked:
        entries = [ref for sop, ref in lists.get(a.study, []) if sop == a.sop]
        if not entries:
            missing.append(a)
        elif len(entries) > 1:
            dupes.append(a)
        elif ref_id(entries[0]) != a.sha:
            wrong.append((a, entries[0]))
        else:
            listed_count += 1
    for a in missing[:10]:
        problems.append(f"missing: round {a.round} SOP {a.sop} (Binary/{a.sha}) not listed in ImagingStudy/{a.study}")
    for a in dupes[:10]:
        problems.append(f"duplicate: SOP {a.sop} listed more than once in ImagingStudy/{a.study}")
    for a, ref in wrong[:10]:
        problems.append(f"wrong binary: SOP {a.sop} listed as {ref}, acknowledged as Binary/{a.sha}")
    for uid, entries in lists.items():
        c = Counter(sop for sop, _ in entries)
        for sop, n in c.items():
            if n > 1 and not any(a.sop == sop for a in dupes):
                problems.append(f"duplicate: SOP {sop} listed {n} times in ImagingStudy/{uid}")

    bad_bytes = 0
    for a in acked:
        r = s.get(f"{base}/Binary/{a.sha}", headers={"Accept": DICOM}, timeout=120)
        got = hashlib.sha256(r.content).hexdigest() if r.status_code == 200 else None
        if got != a.sha:
            bad_bytes += 1
            if bad_bytes <= 10:
                problems.append(f"Binary/{a.sha}: HTTP {r.status_code}, sha256 of the bytes {got}")
    acked_shas = {a.sha for a in acked}
    dangling = 0
    for uid, entries in lists.items():
        for sop, ref in entries:
            sha = ref_id(ref)
            if sha in acked_shas:
                continue
            r = s.get(f"{base}/Binary/{sha}", headers={"Accept": DICOM}, timeout=120)
            if r.status_code != 200 or hashlib.sha256(r.content).hexdigest() != sha:
                dangling += 1
                if dangling <= 10:
                    problems.append(f"dangling: ImagingStudy/{uid} lists {sop} as {ref}, GET answers HTTP {r.status_code}")

    if cli and os.access(cli, os.X_OK):
        v = subprocess.run([cli, "verify", "--server", base], capture_output=True, text=True, timeout=900)
        verify = f"verify exit {v.returncode}"
        if v.returncode != 0:
            problems.append(f"dicom-fhir verify exit {v.returncode}: {(v.stdout + v.stderr)[-1500:]}")
    else:
        verify = f"verify NOT RUN (no CLI binary at {cli})"
        problems.append(f"no CLI binary at {cli}: the verify audit is part of this test")
    rounds = sorted({a.round for a in acked})
    figures = (f"{len(acked)} acknowledged (round{'s' if len(rounds) > 1 else ''} {'+'.join(map(str, rounds))}), {listed_count} listed, {len(missing)} missing, {len(dupes)} duplicated, "
               f"{len(wrong)} wrong binary, {bad_bytes} acknowledged Binaries unreadable or wrong, {dangling} dangling refs, {verify}")
    return figures, problems


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cli", default=os.environ.get("DICOMFHIR_CLI"))
    ap.add_argument("--min-acked", type=int, default=250)
    ap.add_argument("--settle-seconds", type=float, default=180)
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra server argument, e.g. --server-arg='--spring.datasource.url=...'")
    args = ap.parse_args()
    java_opts = os.environ.get("JAVA_OPTS", "").split()
    server = Server(args.jar, args.data_dir, args.port, java_opts, args.log_dir, args.server_arg)
    studies = [generate_uid() for _ in range(STUDIES)]
    series = {s: [generate_uid() for _ in range(SERIES_PER_STUDY)] for s in studies}
    gen = Generator(studies, series)
    acked: list[Acked] = []
    failed = False
    summaries = []
    try:
        server.start("crash-a")
        for rnd, restart_as in ((1, "crash-a"), (2, "crash-b")):
            up = upload_until_killed(server, gen, rnd, args.min_acked)
            acked += up.acked
            for line in up.refused[:5]:
                log(f"round {rnd}: refused upload {line}")
            t0 = time.monotonic()
            server.start(restart_as)
            settled = wait_settled(server.base, studies, args.settle_seconds)
            log(f"round {rnd}: restarted as {restart_as}; settled in {time.monotonic() - t0:.0f}s: {settled}")
            figures, problems = check(server.base, studies, acked, args.cli)
            if problems and settled.startswith("$dicom-status"):
                # Diagnosis only (the round has failed already): does the store converge later,
                # i.e. did $dicom-status say pending 0 too early?
                t1 = time.monotonic()
                while time.monotonic() - t0 < args.settle_seconds:
                    later, later_problems = check(server.base, studies, acked, None)
                    if not later_problems:
                        problems.append(f"(the store was right {time.monotonic() - t1:.0f}s later: "
                                        f"$dicom-status said pending 0 too early)")
                        break
                    time.sleep(5)
                else:
                    problems.append(f"(still wrong {args.settle_seconds:.0f}s after the restart)")
            if up.refused:
                problems.append(f"{len(up.refused)} uploads refused before the kill, e.g. {up.refused[0]}")
            if settled.startswith("NOT SETTLED"):
                problems.append(settled)
            line = f"round {rnd}: {figures}"
            summaries.append(line)
            print(line, flush=True)
            for p in problems[:40]:
                print(f"  {p}", flush=True)
            if problems:
                failed = True
                print(f"--- server log tail ({server.log_path}) ---\n{server.tail(15)}", flush=True)
    except Exception as e:  # noqa: BLE001 - report and fail
        print(f"crash test could not run: {e}", flush=True)
        failed = True
    finally:
        server.stop()
    return summary("crash-test", summaries, failed)


if __name__ == "__main__":
    sys.exit(main())
