#!/usr/bin/env python3
"""Where a STOW-RS part's time goes, from a Java Flight Recorder file of an ingest
(`bench/profile_ingest.py --stow`, which records with settings=profile).

    python3 bench/jfr_stow.py /tmp/ingest.jfr [more.jfr ...] [--top 15] [--after-gap]   # several: summed

Every CPU sample (jdk.ExecutionSample: Java code; jdk.NativeMethodSample: threads in native code,
e.g. the Rust parse or a file write, counted only under our ingest frames because idle threads wait
in native code too) is given one step of the ingest: the study writer's samples are the group
commit (Patient lookups apart); a request thread's sample goes to the innermost frame of the list
below (so H2 under the ledger insert is the ledger's, a SHA-256 inside the parse is the parse's).
The compiler threads' CPU (jdk.ThreadCPULoad) is printed apart: it is what a fresh server pays.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter
from pathlib import Path

# (step, frame prefixes): the innermost frame matching any prefix decides; first listed wins on a tie.
STEPS = [
    ("multipart read / spool", ("org.dicomfhir.hapi.dicomweb.MultipartReader", "org.dicomfhir.hapi.dicomweb.Spool")),
    ("JNI parse (Rust core + result decode)", ("org.dicomfhir.bridge.DicomNative.parse", "org.dicomfhir.bridge.DicomInstance")),
    ("SHA-256", ("sun.security.provider.SHA", "sun.security.provider.DigestBase", "java.security.MessageDigest")),
    ("Binary bytes to the blob store", ("ca.uhn.fhir.jpa.binstore", "ca.uhn.fhir.jpa.binary",
                                        "org.dicomfhir.hapi.dicomweb.StowService.externalize")),
    ("ledger row (DFH_INSTANCE)", ("org.dicomfhir.hapi.studywrite.InstanceLedger.writeRow",
                                   "org.dicomfhir.hapi.studywrite.InstanceLedger.lookup",
                                   "org.dicomfhir.hapi.studywrite.InstanceLedger.insertPendingIntoClaimedStudy")),
    ("attribute index rows (DFH_INSTANCE_ATTR)", ("org.dicomfhir.hapi.studywrite.InstanceLedger.writeIndex",
                                                  "org.dicomfhir.hapi.studywrite.InstanceLedger.flushIndex",
                                                  "org.dicomfhir.hapi.studywrite.InstanceLedger$")),
    ("SOP claim / hand-off", ("org.dicomfhir.hapi.studywrite.StudyWriteHandoff",)),
    ("authorization (StudyAccess)", ("org.dicomfhir.hapi.access",)),
    ("Binary ids lookup", ("org.dicomfhir.hapi.lookup",)),
    ("STOW response", ("org.dicomfhir.hapi.dicomweb.StowService.respond", "org.dicomfhir.bridge.DicomNative.stowResponse")),
    ("transaction commit (Hibernate flush of the Binaries, H2 commit)",
     ("org.springframework.orm.jpa.JpaTransactionManager.doCommit", "org.hibernate.internal.SessionImpl.flush",
      "org.hibernate.event.internal.DefaultFlushEventListener")),
    ("HAPI Binary update (encode, index, entity)", ("ca.uhn.fhir.jpa.dao.BaseHapiFhirResourceDao.update",)),
    ("other StowService", ("org.dicomfhir.hapi.dicomweb.StowService",)),
    ("other DICOMweb request handling", ("org.dicomfhir.hapi.dicomweb",)),
]
REQUEST = "org.dicomfhir.hapi.dicomweb.StowService"
BINARY_UPLOAD = "org.dicomfhir.hapi.ingest"  # POST /Binary (no StowService frame)


def events(path: Path, kind: str) -> list[tuple[str, list[str]]]:
    out = subprocess.run(["jfr", "print", "--events", kind, "--stack-depth", "400", str(path)],
                         capture_output=True, text=True, check=True).stdout
    evs = []
    for ev in out.split(kind + " {")[1:]:
        when = re.search(r"startTime = (\S+)", ev)
        evs.append((when.group(1) if when else "", re.findall(r"^\s+([\w$.<>]+)\(", ev, re.M)))
    return evs


def seconds(when: str) -> float:
    h, m, s = when.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def step_of(frames: list[str], native: bool) -> str | None:
    if any(f.startswith("org.dicomfhir.hapi.studywrite.StudyWriter") for f in frames) and not any(f.startswith(REQUEST) for f in frames):
        if any(f.startswith("org.dicomfhir.hapi.studywrite.PatientDirectory") for f in frames):
            return "group commit: Patient"
        return "group commit: ImagingStudy write (merge, HAPI update, ledger LISTED)"
    ours = any(f.startswith(REQUEST) or f.startswith(BINARY_UPLOAD) for f in frames)
    if not ours:
        if native:
            return None
        if any(f.startswith("ca.uhn.fhir.jpa.sp.SearchParamIdentityCacheSvcImpl") for f in frames):
            return "other threads: HAPI's search parameter identity fill"
        return "other threads (HAPI's scheduler, Tomcat outside a STOW, ...)"
    for f in frames:  # innermost first
        for step, prefixes in STEPS:
            if f.startswith(prefixes):
                return step
    return "request thread, outside the listed steps (Tomcat, HAPI interceptors)"


def count(path: Path, after_gap: bool, steps: Counter, leaves: Counter) -> tuple[str, str]:
    samples = {kind: events(path, kind) for kind in ("jdk.ExecutionSample", "jdk.NativeMethodSample")}
    # The ingest's window: from the first to the last sample of a request thread (the recording
    # also holds the start-up, which is not the ingest's); the study writer's tail is inside it
    # or just after, so the window runs on to the writer's last sample.
    ours = [t for evs in samples.values() for t, f in evs
            if any(x.startswith((REQUEST, BINARY_UPLOAD, "org.dicomfhir.hapi.studywrite.StudyWriter")) for x in f)]
    ours.sort(key=seconds)
    first, last = ours[0], ours[-1]
    if after_gap and len(ours) > 1:
        gap = max(range(1, len(ours)), key=lambda k: seconds(ours[k]) - seconds(ours[k - 1]))
        first = ours[gap]
    for kind, native in (("jdk.ExecutionSample", False), ("jdk.NativeMethodSample", True)):
        for when, frames in samples[kind]:
            if not seconds(first) <= seconds(when) <= seconds(last):
                continue
            s = step_of(frames, native)
            if s is None:
                continue
            steps[s] += 1
            if frames:
                leaves[(s, frames[0] if not s.startswith("other") else " < ".join(frames[:3]))] += 1
    return first, last


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("jfr", type=Path, nargs="+")
    ap.add_argument("--top", type=int, default=0, help="also print the N commonest leaf frames")
    ap.add_argument("--after-gap", action="store_true",
                    help="the timed part only: after the longest pause of the ingest (profile_ingest.py's settle after its warm-up)")
    a = ap.parse_args()
    steps = Counter()
    leaves = Counter()
    windows = []
    for path in a.jfr:
        first, last = count(path, a.after_gap, steps, leaves)
        windows.append(f"{first}-{last}")
    total = sum(steps.values())
    print(f"{total} samples (Java and native) in {', '.join(windows)}")
    for s, n in steps.most_common():
        print(f"  {100 * n / total:5.1f} %  {s}")
    if a.top:
        print("commonest leaf frames:")
        for (s, f), n in leaves.most_common(a.top):
            print(f"  {100 * n / total:5.1f} %  {f}   [{s}]")
    # compiler threads: CPU load samples (every 10 s with settings=profile)
    comp = Counter()
    out = "".join(subprocess.run(["jfr", "print", "--events", "jdk.ThreadCPULoad", str(p)], capture_output=True, text=True).stdout
                  for p in a.jfr)
    for ev in out.split("jdk.ThreadCPULoad {")[1:]:
        name = re.search(r'eventThread = "([^"]*)"', ev)
        user = re.search(r"user = ([\d.]+)%", ev)
        if name and user and "Compiler" in name.group(1):
            comp[name.group(1)] += float(user.group(1))
    if comp:
        print("compiler threads, sum of their sampled user CPU %: " + ", ".join(f"{k} {v:.0f}" for k, v in comp.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
