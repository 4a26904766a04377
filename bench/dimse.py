#!/usr/bin/env python3
"""C-STORE rate: `dicom-fhir listen` + the example server next to Orthanc's own C-STORE SCP.

    python3 bench/dimse.py --count 200 --rounds 2     # standalone (root: Orthanc runs in a
                                                      # loopback-only network namespace)
    python3 bench/run.py --phases dimse               # the same, inside the one-command benchmark

The same client (dcmtk's storescu, one association, `-R`: each file's own transfer syntax, so
nothing is converted on the way) sends the same files to both, in alternating rounds (fresh
copies per round: new Study/Series/SOP Instance UIDs, so every store is a real one), and the wall
time of each storescu run gives instances/s. Ratio = ours ÷ Orthanc (the issue's bar: ≥ 1).
Each round is sent twice to each peer: by one association (a modality sending a study), and by
`--associations` storescu processes at once, each sending whole studies of the round (several
modalities at the same time, what a gateway meets in a hospital); wall time from the first
start to the last exit.
Orthanc listens on every interface, so this runs only in a private network namespace
(scripts/orthanc.sh ns), like the facade phase.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (first: it re-runs this script in target/bench-venv when needed)
import pydicom  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from common import log  # noqa: E402

TEMPLATE = "CT_small.dcm"


def fresh_copies(template: bytes, n: int, out: Path) -> None:
    """`n` Part-10 files in `out`: the template with new UIDs, 10 instances per series, 5 series
    per study (one patient per study)."""
    out.mkdir(parents=True)
    ds = pydicom.dcmread(io.BytesIO(template))
    study = series = None
    for k in range(n):
        if k % 50 == 0:
            study = generate_uid()
            ds.PatientID = f"BENCH-DIMSE-{study[-8:]}"
        if k % 10 == 0:
            series = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = k % 10 + 1
        ds.save_as(out / f"{k:06d}.dcm", enforce_file_format=True)


def storescu(port: int, called: str, folder: Path) -> float:
    """Wall seconds of one storescu association sending every file of `folder`; fails on any
    refused store."""
    t0 = time.perf_counter()
    r = subprocess.run(["storescu", "-R", "+sd", "-aet", "BENCH", "-aec", called, "127.0.0.1", str(port),
                        str(folder)], capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if r.returncode != 0 or "Failed" in r.stderr:
        raise RuntimeError(f"storescu to {called} failed ({r.returncode}):\n{(r.stdout + r.stderr)[-2000:]}")
    return wall


def storescu_parallel(port: int, called: str, folders: list[Path]) -> float:
    """Wall seconds of one storescu association per folder, all at once; fails on any refused store."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["storescu", "-R", "+sd", "-aet", f"BENCH{k}", "-aec", called, "127.0.0.1",
                               str(port), str(f)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k, f in enumerate(folders)]
    outs = [(p, *p.communicate(timeout=3600)) for p in procs]
    wall = time.perf_counter() - t0
    for p, out, err in outs:
        if p.returncode != 0 or "Failed" in err:
            raise RuntimeError(f"storescu to {called} failed ({p.returncode}):\n{(out + err)[-2000:]}")
    return wall


def split_by_study(folder: Path, n: int) -> list[Path]:
    """The round's files (50 per study, in order) moved into (at most) `n` sub-folders, whole
    studies each."""
    parts = [folder / f"part-{k}" for k in range(n)]
    for p in parts:
        p.mkdir()
    for f in sorted(folder.glob("*.dcm")):
        f.rename(parts[int(f.stem) // 50 % n] / f.name)
    return [p for p in parts if any(p.iterdir())]  # fewer studies than associations: fewer associations


def phase(app: Path, work: Path, count: int, rounds: int, java_opts: str, associations: int = 4) -> dict:
    """Starts the example server, the listener in front of it and Orthanc with its DICOM port;
    `rounds` alternating storescu runs of `count` instances into each, by one association and
    by `associations` at once."""
    template = (ROOT / ".data" / "pydicom" / TEMPLATE).read_bytes()
    server = run.Server("dimse", app, work, True, java_opts).start()
    orthanc_dir = work / "orthanc-dimse"
    orthanc_port, orthanc_dicom = run.free_port(), run.free_port()
    listener = None
    try:
        server.wait()
        subprocess.check_output([str(ROOT / "scripts" / "orthanc.sh"), "start", str(orthanc_dir),
                                 "--port", str(orthanc_port), "--dicom-port", str(orthanc_dicom)], text=True)
        cli = os.environ.get("DICOMFHIR_CLI", str(ROOT / "target" / "release" / "dicom-fhir"))
        listener = subprocess.Popen([cli, "listen", "--server", server.base, "--ae-title", "DICOMFHIR",
                                     "--port", "0", "--timeout", "120"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = listener.stdout.readline()
        if "listening on" not in first:
            raise RuntimeError(f"listener did not start: {first!r}")
        ours_port = int(first.split("listening on ", 1)[1].split(",", 1)[0].rsplit(":", 1)[1])
        peers = {"ours": (ours_port, "DICOMFHIR"), "orthanc": (orthanc_dicom, "ORTHANC")}
        walls: dict[str, list[float]] = {p: [] for p in peers}
        many: dict[str, list[float]] = {p: [] for p in peers}
        # warm-up: a few instances into each (JIT, connection pools, Orthanc's index)
        fresh_copies(template, 20, work / "dimse-warm")
        for port, called in peers.values():
            storescu(port, called, work / "dimse-warm")
        for k in range(rounds):
            folder = work / f"dimse-round-{k}"
            fresh_copies(template, count, folder)
            order = list(peers) if k % 2 == 0 else list(reversed(peers))
            for name in order:
                walls[name].append(storescu(*peers[name], folder))
                log(f"dimse: round {k + 1} {name}: {count / walls[name][-1]:.1f} instances/s")
            shutil.rmtree(folder, ignore_errors=True)
            folder = work / f"dimse-many-{k}"
            fresh_copies(template, count, folder)
            parts = split_by_study(folder, associations)
            for name in order:
                many[name].append(storescu_parallel(*peers[name], parts))
                log(f"dimse: round {k + 1} {name}, {associations} associations: "
                    f"{count / many[name][-1]:.1f} instances/s")
            shutil.rmtree(folder, ignore_errors=True)
        out = {"instances_per_round": count, "rounds": rounds, "template": TEMPLATE,
               "client": "dcmtk storescu -R +sd, one association"}
        for name, w in walls.items():
            out[name] = {"wall_s": [round(x, 2) for x in w],
                         "instances_per_s": round(count * len(w) / sum(w), 1)}
            out[name]["many"] = {"wall_s": [round(x, 2) for x in many[name]],
                                 "instances_per_s": round(count * len(many[name]) / sum(many[name]), 1)}
        out["associations"] = associations
        out["ratio"] = round(out["ours"]["instances_per_s"] / out["orthanc"]["instances_per_s"], 3)
        out["ratio_many"] = round(out["ours"]["many"]["instances_per_s"] / out["orthanc"]["many"]["instances_per_s"], 3)
        out["met"] = out["ratio"] >= 1.0 and out["ratio_many"] >= 1.0
        log(f"dimse: ours {out['ours']['instances_per_s']} instances/s, Orthanc "
            f"{out['orthanc']['instances_per_s']} instances/s, ratio {out['ratio']}; {associations} associations: "
            f"ours {out['ours']['many']['instances_per_s']}, Orthanc {out['orthanc']['many']['instances_per_s']}, "
            f"ratio {out['ratio_many']}")
        return out
    finally:
        if listener and listener.poll() is None:
            listener.terminate()
            listener.wait(60)
        subprocess.run([str(ROOT / "scripts" / "orthanc.sh"), "stop", str(orthanc_dir)])
        server.stop()


def markdown_rows(d: dict) -> list[str]:
    from common import met, row
    rows = [row(f"C-STORE instances/s ({d['client']}, {d['rounds']} × {d['instances_per_round']} {d['template']})",
                f"{d['ours']['instances_per_s']} (`dicom-fhir listen` + server)",
                f"{d['orthanc']['instances_per_s']} (Orthanc C-STORE SCP)", f"ours ÷ Orthanc = {d['ratio']}", "≥ 1",
                met(d["ratio"] >= 1.0))]
    if "many" in d["ours"]:
        rows.append(row(f"C-STORE instances/s, {d['associations']} storescu associations at once (whole studies each)",
                        f"{d['ours']['many']['instances_per_s']}", f"{d['orthanc']['many']['instances_per_s']}",
                        f"ours ÷ Orthanc = {d['ratio_many']}", "≥ 1", met(d["ratio_many"] >= 1.0)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=500, help="instances per round and peer")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--associations", type=int, default=4, help="storescu processes at once in the second figure")
    ap.add_argument("--java-opts", default="-Xmx2g")
    a = ap.parse_args()
    if not run.in_private_netns():
        if os.geteuid() != 0:
            sys.exit("bench/dimse.py runs Orthanc in a private network namespace: run as root")
        subprocess.check_call([str(ROOT / "scripts" / "orthanc.sh"), "install"])
        os.execv(str(ROOT / "scripts" / "orthanc.sh"),
                 [str(ROOT / "scripts" / "orthanc.sh"), "ns", sys.executable, __file__, *sys.argv[1:]])
    app = next(iter(sorted((ROOT / "examples" / "target").glob("dicom-fhir-example-server-*.jar"))), None)
    if app is None:
        sys.exit("build the example server first: mvn -B -ntp package -DskipTests")
    work = Path(tempfile.mkdtemp(prefix="dicomfhir-bench-dimse-", dir="/tmp"))
    try:
        print(json.dumps(phase(app, work, a.count, a.rounds, a.java_opts, a.associations), indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
