#!/usr/bin/env python3
"""Where our DICOMweb facade spends its time: one request type at a time under Java Flight Recorder.

    python3 bench/profile_facade.py --instances 2000 [--seconds 30] [--jar JAR] [--keep]

Starts the example server (plugin, H2) with JFR, stores the bench dataset (bench/gen_dataset.py,
STOW-RS 50 per request) plus a 1,000-instance series, then drives one request type at a time for
--seconds with 1 client, recording a JFR file per type (jcmd JFR.start / JFR.stop). For each, prints
the mean latency and, of the CPU samples of the request threads, the share spent inside each of a
list of methods (inclusive: a sample counts for every listed method on its stack).
Writes bench/results/profile.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402  (bootstraps target/bench-venv)
import facade  # noqa: E402
import gen_dataset as gd  # noqa: E402

# Methods whose inclusive share of the request threads' samples we report (substring of the frame).
METHODS = [
    "org.dicomfhir.hapi.dicomweb.QidoService.search",
    "org.dicomfhir.hapi.dicomweb.StudyStore.search",
    "org.dicomfhir.hapi.dicomweb.StudyStore.patients",
    "org.dicomfhir.hapi.dicomweb.StudyStore.study",
    "org.dicomfhir.hapi.dicomweb.StudyStore.binary",
    "org.dicomfhir.hapi.dicomweb.StudyStore.bytes",
    "org.dicomfhir.bridge.DicomNative.qidoPlan",
    "org.dicomfhir.bridge.DicomNative.qido",
    "org.dicomfhir.bridge.DicomNative.dicomJson",
    "org.dicomfhir.bridge.DicomNative.frames",
    "ca.uhn.fhir.parser.BaseParser.encodeResourceToString",
    "ca.uhn.fhir.parser.JsonParser.doParseResource",
    "ca.uhn.fhir.jpa.dao.BaseHapiFhirDao.toResource",
    "ca.uhn.fhir.jpa.search.builder.SearchBuilder.createQuery",
    "ca.uhn.fhir.jpa.search.builder.SearchBuilder.loadResourcesByPid",
    "ca.uhn.fhir.jpa.search.builder.SearchBuilder.loadIncludes",
    "org.hibernate",
    "org.h2",
    "com.fasterxml.jackson.databind.ObjectMapper.readTree",
    "ca.uhn.fhir.jpa.binstore.FilesystemBinaryStorageSvcImpl",
    "ca.uhn.fhir.jpa.dao.BaseHapiFhirResourceDao.read",
    "org.dicomfhir.hapi.dicomweb.StowService",
    "org.dicomfhir.bridge.DicomNative.ingest",
    "org.dicomfhir.hapi.ingest.DicomStorageInterceptor",
    "org.dicomfhir.hapi.studywrite.StudyWriter",
    "org.dicomfhir.hapi.studywrite.StudyWriteHandoff",
    "ca.uhn.fhir.jpa.dao.BaseHapiFhirResourceDao.update",
    "ca.uhn.fhir.jpa.dao.BaseHapiFhirResourceDao.search",
    "ca.uhn.fhir.jpa.dao.index",
    "ca.uhn.fhir.jpa.binstore",
]


def jfr_shares(path: Path) -> dict:
    out = subprocess.run(["jfr", "print", "--events", "jdk.ExecutionSample", "--stack-depth", "200", str(path)],
                         capture_output=True, text=True).stdout
    total = 0
    hits = Counter()
    tops = Counter()
    threads = Counter()  # every sample of the JVM: request threads, the study writer, the rest
    for ev in out.split("jdk.ExecutionSample")[1:]:
        frames = re.findall(r"^\s+([\w$.<>]+)\(", ev, re.M)
        if any("org.dicomfhir.hapi.studywrite.StudyWriter" in f for f in frames) and \
                not any("org.dicomfhir.hapi.dicomweb" in f for f in frames):
            threads["study writer (ImagingStudy updates)"] += 1
            writer = [f for f in frames if f.startswith(("org.dicomfhir", "ca.uhn.fhir.jpa.dao.BaseHapiFhirResourceDao"))]
            for f in set(writer):
                threads["  inside " + f] += 1
        elif any("org.dicomfhir.hapi.dicomweb" in f for f in frames):
            threads["DICOMweb request threads"] += 1
        else:
            threads["other"] += 1
        if not any("org.dicomfhir.hapi.dicomweb" in f for f in frames):
            continue  # not a DICOMweb request thread
        total += 1
        for m in METHODS:
            if any(f.startswith(m) for f in frames):
                hits[m] += 1
        if frames:
            tops[frames[0]] += 1
    all_n = sum(v for k, v in threads.items() if not k.startswith("  "))
    return {"samples": total, "all_samples": all_n,
            "threads_pct": {k: round(100 * v / all_n, 1) for k, v in threads.most_common() if v * 100 >= all_n},
            "inclusive_pct": {m: round(100 * hits[m] / total, 1) for m in METHODS if total and hits[m]},
            "top_frames": [(f, round(100 * c / total, 1)) for f, c in tops.most_common(12)] if total else []}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--jar", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--java-opts", default=bench.DEFAULT_JAVA_OPTS)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--answers-only", action="store_true", help="store the data, check answers, no profiling")
    ap.add_argument("--hold", type=float, default=0, help="keep the server up this many seconds at the end")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dicomfhir-profile-", dir="/tmp"))
    templates = gd.load_templates()
    bench.TEMPLATES = templates
    s_n, se_n, per = gd.shape(a.instances)
    studies = gd.plan(s_n, se_n, per, seed=a.seed)
    items = [d for _, d in gd.render(studies, templates)]
    meta = gd.plan(1, 1, 1000, seed=a.seed, tag="metaseries")
    meta_items = [d for _, d in gd.render(meta, templates)]
    app = bench.prepare_app(work, a.jar)
    server = bench.Server("profile", app, work, True, a.java_opts)
    results = {}
    try:
        bench.start_all([server])
        base = f"{server.base}/dicomweb"
        r = facade.stow(base, meta_items[:300], 4)  # warm-up (the metadata series' first 300)
        assert not r["errors"], r["errors"][:2]
        jfr = work / "stow.jfr"
        subprocess.run(["jcmd", str(server.proc.pid), "JFR.start", "name=p", "settings=profile",
                        f"filename={jfr}"], check=True, capture_output=True)
        r = facade.stow(base, items, 4)
        subprocess.run(["jcmd", str(server.proc.pid), "JFR.stop", "name=p"], check=True, capture_output=True)
        assert not r["errors"], r["errors"][:2]
        results["STOW-RS 50/request, 4 clients"] = {"requests": len(r["lat"]), "inst_per_s": round(r["n"] / r["wall"], 1),
                                                   **facade.ms(r["lat"]), **jfr_shares(jfr)}
        bench.log(f"STOW: {json.dumps(results['STOW-RS 50/request, 4 clients'])}")
        r = facade.stow(base, meta_items[300:], 4)
        assert not r["errors"], r["errors"][:2]
        bench.log(f"stored {len(items) + len(meta_items)} instances")
        # Answers we know from the plan, for the queries that fan out over many studies.
        checks = {}
        for mod in sorted({m[0] for m in gd.MODALITIES}):
            want = sum(1 for st in studies for se in st.series if se.modality == mod)
            r = facade.get(f"{base}/series?Modality={mod}")
            checks[f"series?Modality={mod}"] = {"expected": want, "got": len(r.json()),
                                                 "warning": r.headers.get("Warning")}
        for fam in sorted({st.patient_name.split("^")[0][:3] for st in studies}):
            want = sum(1 for st in studies if st.patient_name.upper().startswith(fam))
            r = facade.get(f"{base}/studies?PatientName={fam}*")
            checks[f"studies?PatientName={fam}*"] = {"expected": want, "got": len(r.json()),
                                                      "warning": r.headers.get("Warning")}
        results["answer_checks"] = checks
        bench.log(f"answer checks: {json.dumps(checks)}")
        if a.hold:
            bench.log(f"holding {base} for {a.hold}s")
            time.sleep(a.hold)
        if a.answers_only:
            return
        qs = facade.qido_queries(studies, 200, a.seed)
        kinds = {k: v for k, v in qs.items()}
        kinds["series metadata (1,000 instances)"] = [f"studies/{meta[0].uid}/series/{meta[0].series[0].uid}/metadata"]
        for kind, paths in kinds.items():
            for p in paths[:3]:
                facade.timed_get(f"{base}/{p}")  # warm-up
            jfr = work / (re.sub(r"\W+", "_", kind) + ".jfr")
            subprocess.run(["jcmd", str(server.proc.pid), "JFR.start", "name=p", "settings=profile",
                            f"filename={jfr}"], check=True, capture_output=True)
            lat = []
            t0 = time.time()
            k = 0
            while time.time() - t0 < a.seconds:
                t, r = facade.timed_get(f"{base}/{paths[k % len(paths)]}")
                assert r.status_code == 200, (paths[k % len(paths)], r.status_code, r.text[:200])
                lat.append(t)
                k += 1
            subprocess.run(["jcmd", str(server.proc.pid), "JFR.stop", "name=p"], check=True, capture_output=True)
            results[kind] = {"requests": len(lat), **facade.ms(lat), **jfr_shares(jfr)}
            bench.log(f"{kind}: {json.dumps(results[kind])}")
    finally:
        server.stop()
        out = HERE / "results"
        out.mkdir(exist_ok=True)
        (out / "profile.json").write_text(json.dumps(results, indent=1))
        if not a.keep:
            import shutil
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
