"""The `facade` phase of bench/run.py: our DICOMweb facade next to Orthanc + its DICOMweb plugin.

Both servers run at once, in the loopback-only network namespace bench/run.py puts itself in
(scripts/orthanc.sh ns), and the same client code drives both: for each figure the requests
alternate between the two servers (A B, B A, ...), so load from other work on the machine falls on
both alike. Ratios are ours ÷ Orthanc.

Figures (see docs/benchmarks.md, "DICOMweb facade vs Orthanc"):
  stow      STOW-RS, 50 instances per multipart request, 4 clients, the main dataset in 4 rounds
  qido      p95 / median latency of 7 query types, `qido_n` different queries each
  metadata  WADO-RS series metadata of a 1,000-instance series; a repeat with If-None-Match
  frames    first vs last frame of a large multi-frame instance; random frames/s (1 client)
  retrieve  WADO-RS retrieve of a ~1 GB study (5 such instances): the server's heap while it streams
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

import common
import gen_dataset as gd
from common import median_p95, met, pct, row, settle

BOUNDARY = "dicomfhir-bench-7c1e2a"
STOW_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
ACCEPT_FRAMES = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
JSON = "application/dicom+json"
BATCH = 50
SERIES_LIMIT = 1000  # our default dicomfhir.dicomweb.qido-max-results
# Large multi-frame instance: 512 x 512 x 16 bit native frames (512 KiB each).
FRAME_SIDE = 512
MULTIFRAME_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7.3"  # Multi-frame Grayscale Word Secondary Capture

http = common.session

# Bearer tokens per server: a request to a URL under one of these bases carries
# `Authorization: Bearer <fn()>` (the smart phase of bench/run.py, bench/smart.py).
AUTH: dict = {}


def auth(url: str) -> dict:
    for base, token in AUTH.items():
        if url.startswith(base):
            return {"Authorization": f"Bearer {token()}"}
    return {}


def log(msg: str):
    common.log(msg, "facade: ")


def ms(values) -> dict:
    return {"n": len(values), "median_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(pct(values, 0.95) * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def ratio(a, b, nd=3):
    return round(a / b, nd) if a is not None and b else None


# --------------------------------------------------------------------------------------------
# Orthanc


class Orthanc:
    """Orthanc + DICOMweb through scripts/orthanc.sh, in the current (loopback-only) namespace."""

    def __init__(self, root: Path, work: Path, port: int = 8042):
        self.script = root / "scripts" / "orthanc.sh"
        self.dir = work / "orthanc"
        self.port = port
        self.base = None
        self.pid = None

    def start(self):
        out = subprocess.check_output([str(self.script), "start", str(self.dir), "--port", str(self.port)], text=True)
        self.base = out.strip().splitlines()[-1]
        self.pid = int((self.dir / "orthanc.pid").read_text())
        system = requests.get(f"http://127.0.0.1:{self.port}/system", timeout=30).json()
        plugins = requests.get(f"http://127.0.0.1:{self.port}/plugins/dicom-web", timeout=30).json()
        self.version = f"Orthanc {system.get('Version')} + DICOMweb plugin {plugins.get('Version')}"
        log(f"{self.version} up, {self.base} (pid {self.pid})")
        return self

    def stop(self):
        subprocess.run([str(self.script), "stop", str(self.dir)])


# --------------------------------------------------------------------------------------------
# client


def multipart(parts: list[bytes]) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    return b"".join(head + p + b"\r\n" for p in parts) + f"--{BOUNDARY}--\r\n".encode()


def stow_once(base: str, parts: list[bytes]) -> tuple[int, str]:
    r = http().post(f"{base}/studies", data=multipart(parts), timeout=1800,
                    headers={"Content-Type": STOW_TYPE, "Accept": JSON, **auth(base)})
    failed = ""
    if r.status_code == 200:
        try:
            body = r.json()
            body = body[0] if isinstance(body, list) else body
            if body.get("00081198", {}).get("Value"):  # FailedSOPSequence
                failed = json.dumps(body["00081198"])[:300]
        except ValueError:
            failed = "no JSON response"
    else:
        failed = r.text[:300]
    return r.status_code, failed


def stow(base: str, items: list[bytes], clients: int) -> dict:
    batches = [items[k:k + BATCH] for k in range(0, len(items), BATCH)]
    lat = [0.0] * len(batches)
    status = [0] * len(batches)
    errors = []
    t0 = time.perf_counter()

    def one(k: int):
        t = time.perf_counter()
        try:
            status[k], failed = stow_once(base, batches[k])
            if failed:
                errors.append(failed)
        except requests.RequestException as e:
            status[k] = -1
            errors.append(str(e)[:200])
        lat[k] = time.perf_counter() - t

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(len(batches))))
    return {"n": len(items), "wall": time.perf_counter() - t0, "lat": lat, "status": status, "errors": errors}


def get(url: str, accept: str = JSON, headers: dict | None = None, stream: bool = False):
    h = {"Accept": accept, **auth(url), **(headers or {})}
    return http().get(url, headers=h, timeout=1800, stream=stream)


def timed_get(url: str, accept: str = JSON, headers: dict | None = None) -> tuple[float, requests.Response]:
    t = time.perf_counter()
    r = get(url, accept, headers)
    _ = r.content
    return time.perf_counter() - t, r


# --------------------------------------------------------------------------------------------
# data


def multiframe_instance(study_uid: str, series_uid: str, sop_uid: str, index: int, frames: int) -> bytes:
    """A native 16-bit multi-frame instance, deterministic: frame k is a ramp scaled by k."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MULTIFRAME_SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = MULTIFRAME_SOP_CLASS, sop_uid
    ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = "BENCH-MF", "BENCH^MULTIFRAME", "19700101", "O"
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime = study_uid, "20240102", "101010"
    ds.AccessionNumber, ds.StudyID, ds.ReferringPhysicianName = "BENCHMF1", "MF1", ""
    ds.StudyDescription = "BENCH LARGE MULTIFRAME"
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.Modality = series_uid, 1, "OT"
    ds.SeriesDescription = "MULTIFRAME"
    ds.InstanceNumber = index + 1
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = FRAME_SIDE
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = 0x00181063  # FrameTime
    ds.FrameTime = 40
    ramp = (np.arange(FRAME_SIDE * FRAME_SIDE, dtype=np.uint32) % 4096).astype(np.uint16)
    pixels = np.empty((frames, FRAME_SIDE * FRAME_SIDE), dtype=np.uint16)
    for k in range(frames):
        pixels[k] = (ramp + (k * 7 + index * 131)) & 0x0FFF
    ds.PixelData = pixels.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# figures


def alternate(k: int, peers: list):
    return peers if k % 2 == 0 else list(reversed(peers))


def figure_stow(peers: dict, warm: list[bytes], items: list[bytes], clients: int, rounds: int,
                a: str = "ours", b: str = "orthanc", settle_pids: list[int] | None = None) -> dict:
    """Ratios are peers[a] over peers[b]. With `settle_pids`, every round starts once those
    processes are idle: for two servers that both write their studies after answering (the same
    deferred work), so that one's study writing is not timed as the other's STOW. Not against
    Orthanc, which has no deferred work: ours would be left out of our figure."""
    names = list(peers)
    for n in names:
        w = stow(peers[n], warm, clients)
        if w["errors"] or any(s != 200 for s in w["status"]):
            raise RuntimeError(f"{n}: STOW warm-up failed: {w['errors'][:2]} {set(w['status'])}")
    chunks = [items[k * len(items) // rounds:(k + 1) * len(items) // rounds] for k in range(rounds)]
    runs = {n: [] for n in names}
    for k, chunk in enumerate(chunks):
        for n in alternate(k, names):
            if settle_pids:
                settle(settle_pids)
            r = stow(peers[n], chunk, clients)
            runs[n].append(r)
            log(f"STOW round {k + 1}/{rounds} {n}: {r['n']} in {r['wall']:.1f}s ({r['n'] / r['wall']:.1f}/s)"
                + (f", {len(r['errors'])} errors: {r['errors'][:1]}" if r["errors"] else ""))
    out = {}
    for n, rs in runs.items():
        wall = sum(r["wall"] for r in rs)
        lat = [x for r in rs for x in r["lat"]]
        out[n] = {"instances": sum(r["n"] for r in rs), "seconds": round(wall, 1),
                  "inst_per_s": round(sum(r["n"] for r in rs) / wall, 1), **ms(lat),
                  "errors": sum(len(r["errors"]) for r in rs) + sum(s != 200 for r in rs for s in r["status"])}
    out["ratio_inst_per_s"] = ratio(out[a]["inst_per_s"], out[b]["inst_per_s"])
    out["clients"], out["per_request"] = clients, BATCH
    return out


def qido_queries(studies: list, n: int, seed: int, prefix_len: int | None = 3,
                 date_span_days: int = 60, series_limit: int = 0) -> dict[str, list[str]]:
    """Paths (relative to the DICOMweb base) of each query type; `*` is sent as is (Orthanc 1.10 does
    not percent-decode query values). The name prefix is the surname's first `prefix_len` letters
    (None: the whole surname); a date range spans `date_span_days` days after a study's date;
    `series?Modality&limit` asks for `series_limit` series (0: SERIES_LIMIT)."""
    rng = random.Random(f"{seed}/qido")
    pick = lambda: rng.choice(studies)  # noqa: E731
    stations = random.Random(f"{seed}/qido-station")  # its own draws: the other types' queries stay as they were
    q = {"studies?PatientID": [], "studies?PatientName=prefix*": [], "studies?StudyDate=range": [],
         "studies?PatientID&includefield=all": [], "series of a study": [], "instances of a series": [],
         "series?Modality&limit": [], "series?StationName": []}
    for _ in range(n):
        st = pick()
        q["studies?PatientID"].append(f"studies?PatientID={st.patient_id}")
        st = pick()
        q["studies?PatientName=prefix*"].append(f"studies?PatientName={st.patient_name.split('^')[0][:prefix_len]}*")
        st = pick()
        d0 = gd.dt.date(int(st.date[:4]), int(st.date[4:6]), int(st.date[6:]))
        d1 = d0 + gd.dt.timedelta(days=date_span_days)
        q["studies?StudyDate=range"].append(f"studies?StudyDate={d0:%Y%m%d}-{d1:%Y%m%d}")
        st = pick()
        q["studies?PatientID&includefield=all"].append(f"studies?PatientID={st.patient_id}&includefield=all")
        st = pick()
        q["series of a study"].append(f"studies/{st.uid}/series")
        st = pick()
        se = rng.choice(st.series)
        q["instances of a series"].append(f"studies/{st.uid}/series/{se.uid}/instances")
        # an attribute outside the plugin's table (issue 17: within 2 x the p95 of PatientID)
        st = stations.choice(studies)
        q["series?StationName"].append(f"series?StationName={stations.choice(st.series).station}")
    # The expensive one (every series of the archive is a candidate): fewer repeats. With `limit`
    # at our default page size (dicomfhir.dicomweb.qido-max-results): at 100,000 instances CT alone
    # matches some 4,000 series, which Orthanc would answer in full and we in pages.
    mods = [m[0] for m in gd.MODALITIES]
    q["series?Modality&limit"] = [f"series?Modality={mods[k % len(mods)]}&limit={series_limit or SERIES_LIMIT}"
                                  for k in range(max(5, n // 4))]
    return q


QIDO_WARMUP = 20  # untimed queries per type and server before any is timed


def figure_qido(peers: dict, queries: dict[str, list[str]], warmup: dict[str, list[str]],
                a: str = "ours", b: str = "orthanc") -> dict:
    """Every type's queries interleaved (query k of each type, then k + 1, ...), each against both
    servers in alternating order, after an untimed warm-up drawn apart from the timed queries (no
    answer cached by either server). Timed type after type, the type timed first was the slow one:
    studies?PatientID had p95 ratios of 0.84-1.16 over the last seven full runs, while the same
    query with includefield=all, timed fourth, had 0.53-0.71 in the last three (the warm-up alone
    brought PatientID to 0.76 in one run and 1.01 in the next). Our guess: the servers' work after
    the STOW of 10,000 instances and the JVM's compilation; interleaving spreads whatever it is over
    every type alike."""
    names = list(peers)
    kinds = list(queries)
    lat = {kind: {n: [] for n in names} for kind in kinds}
    counts = {kind: {n: [] for n in names} for kind in kinds}
    bad = {kind: {n: 0 for n in names} for kind in kinds}

    def rounds(qs: dict[str, list[str]]):
        for k in range(max(len(v) for v in qs.values())):
            for kind, paths in qs.items():
                if k < len(paths):
                    yield k, kind, paths[k]

    for k, kind, path in rounds(warmup):
        for n in names:
            timed_get(f"{peers[n]}/{path}")
    for k, kind, path in rounds(queries):
        for n in alternate(k, names):
            t, r = timed_get(f"{peers[n]}/{path}")
            lat[kind][n].append(t)
            if r.status_code == 200:
                counts[kind][n].append(len(r.json()))
            elif r.status_code == 204:
                counts[kind][n].append(0)
            else:
                bad[kind][n] += 1
                counts[kind][n].append(-r.status_code)
    out = {}
    for kind in kinds:
        c = counts[kind]
        mismatch = sum(1 for x, y in zip(c[a], c[b]) if x != y)
        res = {n: {**ms(lat[kind][n]), "results_total": sum(x for x in c[n] if x > 0), "errors": bad[kind][n]}
               for n in names}
        res["ratio_p95"] = ratio(res[a]["p95_ms"], res[b]["p95_ms"])
        res["ratio_median"] = ratio(res[a]["median_ms"], res[b]["median_ms"])
        res["count_mismatches"] = mismatch
        res["example"] = queries[kind][0]
        out[kind] = res
        log(f"QIDO {kind}: {a} p95 {res[a]['p95_ms']} ms, {b} p95 {res[b]['p95_ms']} ms, "
            f"ratio {res['ratio_p95']}, result-count mismatches {mismatch}/{len(queries[kind])}")
    return out


def figure_metadata(peers: dict, study: str, all_series: list[str], expected: int, repeats: int) -> dict:
    """First requests of each series (cold: nothing of it cached by either server), then repeats of the first."""
    names = list(peers)
    series = all_series[0]
    lat = {n: [] for n in names}
    etags = {}
    sizes = {}
    for n in names:
        lat[n + "_first"] = []
    for k, cold in enumerate(all_series):
        for n in alternate(k, names):
            t, r = timed_get(f"{peers[n]}/studies/{study}/series/{cold}/metadata")
            got = len(r.json()) if r.status_code == 200 else -r.status_code
            if got != expected:
                raise RuntimeError(f"{n}: series metadata has {got} instances, expected {expected}")
            lat[n + "_first"].append(t)
            if cold == series:  # the ETag for the conditional requests
                etags[n] = r.headers.get("ETag")
                sizes[n] = len(r.content)
    for k in range(repeats):
        for n in alternate(k, names):
            t, r = timed_get(f"{peers[n]}/studies/{study}/series/{series}/metadata")
            lat[n].append(t)
    out = {n: {**ms(lat[n]), "first_request": ms(lat[n + "_first"]), "etag": etags[n],
               "bytes": sizes[n]} for n in names}
    for n in names:
        cond = []
        statuses = set()
        if etags[n]:
            for _ in range(repeats):
                t, r = timed_get(f"{peers[n]}/studies/{study}/series/{series}/metadata",
                                 headers={"If-None-Match": etags[n]})
                cond.append(t)
                statuses.add(r.status_code)
        out[n]["conditional"] = {**(ms(cond) if cond else {}), "statuses": sorted(statuses)}
    out["ratio_p95"] = ratio(out["ours"]["p95_ms"], out["orthanc"]["p95_ms"])
    out["ratio_median"] = ratio(out["ours"]["median_ms"], out["orthanc"]["median_ms"])
    out["ratio_first_median"] = ratio(out["ours"]["first_request"]["median_ms"], out["orthanc"]["first_request"]["median_ms"])
    out["instances"] = expected
    log(f"metadata: ours median {out['ours']['median_ms']} ms, Orthanc {out['orthanc']['median_ms']} ms; "
        f"conditional ours {out['ours']['conditional']}, Orthanc {out['orthanc']['conditional']}")
    return out


def figure_frames(peers: dict, study: str, series: str, sop: str, frames: int, repeats: int, random_n: int,
                  seed: int) -> dict:
    names = list(peers)
    frame_bytes = FRAME_SIDE * FRAME_SIDE * 2
    out = {n: {} for n in names}
    for which, number in (("first", 1), ("last", frames)):
        lat = {n: [] for n in names}
        for k in range(repeats + 1):
            for n in alternate(k, names):
                t, r = timed_get(f"{peers[n]}/studies/{study}/series/{series}/instances/{sop}/frames/{number}",
                                 ACCEPT_FRAMES)
                if r.status_code != 200 or len(r.content) < frame_bytes:
                    raise RuntimeError(f"{n}: frame {number}: {r.status_code}, {len(r.content)} bytes")
                if k > 0:  # the first round is a warm-up
                    lat[n].append(t)
        for n in names:
            out[n][which] = ms(lat[n])
    rng = random.Random(f"{seed}/frames")
    order = [rng.randrange(1, frames + 1) for _ in range(random_n)]
    for k, n in enumerate(alternate(0, names) + alternate(1, names)):
        half = order[:random_n // 2] if k < 2 else order[random_n // 2:]
        t0 = time.perf_counter()
        for number in half:
            r = get(f"{peers[n]}/studies/{study}/series/{series}/instances/{sop}/frames/{number}", ACCEPT_FRAMES)
            if r.status_code != 200 or len(r.content) < frame_bytes:
                raise RuntimeError(f"{n}: frame {number}: {r.status_code}")
        out[n].setdefault("random_s", 0.0)
        out[n]["random_s"] += time.perf_counter() - t0
    for n in names:
        out[n]["frames_per_s"] = round(random_n / out[n].pop("random_s"), 1)
        out[n]["last_over_first_median"] = ratio(out[n]["last"]["median_ms"], out[n]["first"]["median_ms"], 2)
        out[n]["last_over_first_p95"] = ratio(out[n]["last"]["p95_ms"], out[n]["first"]["p95_ms"], 2)
    out["ratio_frames_per_s"] = ratio(out["ours"]["frames_per_s"], out["orthanc"]["frames_per_s"])
    out["frames"], out["frame_bytes"], out["random_frames"] = frames, frame_bytes, random_n
    log(f"frames: ours last/first {out['ours']['last_over_first_median']}, {out['ours']['frames_per_s']} frames/s; "
        f"Orthanc last/first {out['orthanc']['last_over_first_median']}, {out['orthanc']['frames_per_s']} frames/s")
    return out


class HeapWatch:
    """Samples the heap of a JVM (jstat -gc, every 250 ms): used = survivors + eden + old (KiB)."""

    def __init__(self, pid: int):
        self.proc = subprocess.Popen(["jstat", "-gc", str(pid), "250"], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.other = []  # lines jstat printed that are no samples (errors)
        self.samples = []  # (t, used_kib, old_kib)
        self.header = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            f = line.split()
            if not f:
                continue
            if f[0] == "S0C":
                self.header = f
                continue
            if self.header is None:
                self.other.append(line.strip())
                continue
            # Columns a collector does not have print "-" (ParallelGC: CGC, CGCT).
            v = {k: float(x) for k, x in zip(self.header, f) if x.replace(".", "", 1).isdigit()}
            if not all(k in v for k in ("S0U", "S1U", "EU", "OU")):
                self.other.append(line.strip())
                continue
            self.samples.append((time.perf_counter(), v["S0U"] + v["S1U"] + v["EU"] + v["OU"], v["OU"]))

    def window(self, t0: float, t1: float):
        return [s for s in self.samples if t0 <= s[0] <= t1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def figure_retrieve(peers: dict, study: str, expected_bytes: int, jvm_pid: int, orthanc_pid: int) -> dict:
    """Downloads the whole study from each server once (streamed, counted, discarded) while the
    server's memory is sampled: our JVM's heap (jstat), Orthanc's RSS."""
    out = {}
    watch = HeapWatch(jvm_pid)
    try:
        # jstat is a JVM itself: on a loaded machine it takes seconds to print its first sample.
        t_wait = time.perf_counter()
        while len(watch.samples) < 8 and time.perf_counter() - t_wait < 120:
            time.sleep(0.25)
        for n in ("ours", "orthanc"):
            if n == "ours":
                # A full GC first: storing the big study left garbage in the old generation, which a GC
                # during the download would free and so hide any growth.
                subprocess.run(["jcmd", str(jvm_pid), "GC.run"], capture_output=True, timeout=120)
            rss = []
            t_base = time.perf_counter()
            rss_before = rss_kib(orthanc_pid)
            time.sleep(2)
            t0 = time.perf_counter()
            r = get(f"{peers[n]}/studies/{study}", ACCEPT_DICOM, stream=True)
            got = 0
            last = 0.0
            for chunk in r.iter_content(1 << 20):
                got += len(chunk)
                if n == "orthanc" and time.perf_counter() - last > 0.25:
                    rss.append(rss_kib(orthanc_pid))
                    last = time.perf_counter()
            t1 = time.perf_counter()
            res = {"status": r.status_code, "bytes": got, "seconds": round(t1 - t0, 1),
                   "mb_per_s": round(got / 1e6 / (t1 - t0), 1)}
            if n == "ours":
                time.sleep(0.6)
                base = watch.window(t_base, t0)
                during = watch.window(t0, t1 + 0.5)
                if base and during:
                    b_used = statistics.median(s[1] for s in base)
                    b_old = statistics.median(s[2] for s in base)
                    res.update({"heap_samples": len(during),
                                "heap_used_before_mib": round(b_used / 1024, 1),
                                "heap_used_peak_mib": round(max(s[1] for s in during) / 1024, 1),
                                "heap_peak_delta_mib": round((max(s[1] for s in during) - b_used) / 1024, 1),
                                "old_gen_before_mib": round(b_old / 1024, 1),
                                "old_gen_peak_delta_mib": round((max(s[2] for s in during) - b_old) / 1024, 1)})
                else:
                    res["heap_error"] = f"{len(watch.samples)} jstat samples in all; {watch.other[:3]}"
            else:
                res.update({"rss_before_mib": round(rss_before / 1024, 1),
                            "rss_peak_mib": round(max(rss or [rss_before]) / 1024, 1),
                            "rss_peak_delta_mib": round((max(rss or [rss_before]) - rss_before) / 1024, 1)})
            if got < expected_bytes:
                res["error"] = f"got {got} bytes, expected at least {expected_bytes}"
            out[n] = res
            log(f"retrieve {n}: {json.dumps(res)}")
    finally:
        watch.stop()
    out["study_bytes"] = expected_bytes
    out["ratio_mb_per_s"] = ratio(out["ours"]["mb_per_s"], out["orthanc"]["mb_per_s"])
    return out


# --------------------------------------------------------------------------------------------


FIGURES = ("stow", "qido", "metadata", "frames", "retrieve")


def run(root: Path, work: Path, server, warm: list[bytes], items: list[bytes], studies: list, templates: dict,
        clients: int, seed: int, qido_n: int = 40, meta_instances: int = 1000, frames: int = 400,
        big_instances: int = 5, figures=FIGURES) -> dict:
    """server: the started plugin Server of bench/run.py (H2). Starts and stops Orthanc itself."""
    orthanc = Orthanc(root, work).start()
    peers = {"ours": f"{server.base}/dicomweb", "orthanc": orthanc.base}
    res = {"orthanc_version": orthanc.version, "ours_base": peers["ours"], "orthanc_base": peers["orthanc"]}
    try:
        if "stow" in figures or "qido" in figures:
            log(f"STOW: warm-up {len(warm)} instances each, then {len(items)} instances in 4 rounds")
            res["stow"] = figure_stow(peers, warm, items, clients, 4)
            log(f"STOW: ours {res['stow']['ours']['inst_per_s']}/s, Orthanc {res['stow']['orthanc']['inst_per_s']}/s, "
                f"ratio {res['stow']['ratio_inst_per_s']}")
        if "qido" in figures:
            res["settle_before_qido_s"] = settle([server.proc.pid, orthanc.pid])
            res["qido"] = figure_qido(peers, qido_queries(studies, qido_n, seed),
                                      qido_queries(studies, QIDO_WARMUP, f"{seed}/warm-up"))
        if "metadata" in figures:
            res["metadata"] = figure_metadata_series(peers, templates, meta_instances, clients, seed)
        if "frames" in figures or "retrieve" in figures:
            big_study, big_series, sops, total = store_big_study(peers, seed, big_instances, frames)
        if "frames" in figures:
            res["frames"] = figure_frames(peers, big_study, big_series, sops[0], frames, 10, 100, seed)
        if "retrieve" in figures:
            res["retrieve"] = figure_retrieve(peers, big_study, total, server.proc.pid, orthanc.pid)
    finally:
        orthanc.stop()
    return res


METADATA_COLD_SERIES = 3


def figure_metadata_series(peers: dict, templates: dict, meta_instances: int, clients: int, seed: int) -> dict:
    """The same 1,000-instance series (three of them, for first requests) stored in both, then figure_metadata."""
    meta = gd.plan(1, METADATA_COLD_SERIES, meta_instances, seed=seed, tag="metaseries")
    meta_items = [d for _, d in gd.render(meta, templates)]
    log(f"metadata: storing {METADATA_COLD_SERIES} series of {meta_instances} instances in both")
    for n in peers:
        r = stow(peers[n], meta_items, clients)
        if r["errors"] or any(s != 200 for s in r["status"]):
            raise RuntimeError(f"{n}: STOW of the metadata series failed: {r['errors'][:2]}")
    return figure_metadata(peers, meta[0].uid, [s.uid for s in meta[0].series], meta_instances, 10)


def store_big_study(peers: dict, seed: int, big_instances: int, frames: int):
    """The ~1 GB study of large multi-frame instances, one instance per STOW request, into both."""
    big_study = gd.make_uid(seed, "bigstudy")
    big_series = gd.make_uid(seed, "bigstudy", 1)
    sops = [gd.make_uid(seed, "bigstudy", 1, i) for i in range(big_instances)]
    total = 0
    log(f"big study: {big_instances} multi-frame instances of {frames} frames "
        f"({FRAME_SIDE}x{FRAME_SIDE}x16 bit) into both")
    for i, sop in enumerate(sops):
        data = multiframe_instance(big_study, big_series, sop, i, frames)
        total += len(data)
        for n in peers:
            t = time.perf_counter()
            status, failed = stow_once(peers[n], [data])
            if status != 200 or failed:
                raise RuntimeError(f"{n}: STOW of multi-frame instance {i}: {status} {failed}")
            log(f"big study: instance {i + 1}/{big_instances} ({len(data) / 1e6:.0f} MB) into {n} "
                f"in {time.perf_counter() - t:.1f}s")
        del data
    return big_study, big_series, sops, total


FIGURE_ORDER = ["studies?PatientID", "studies?PatientName=prefix*", "studies?StudyDate=range",
                "studies?PatientID&includefield=all", "series of a study", "instances of a series",
                "series?Modality&limit", "series?StationName"]


def markdown_rows(f: dict) -> list[str]:
    """Rows of bench/run.py's table: figure | ours | reference | ratio | bar | met."""
    L = []
    s = f.get("stow")
    if s:
        o, t = s["ours"], s["orthanc"]
        L.append(row(f"STOW-RS, {s['per_request']} instances/request, {s['clients']} clients: instances/s",
                     o["inst_per_s"], f"{t['inst_per_s']} (Orthanc)", s["ratio_inst_per_s"], "≥ 1",
                     met(s["ratio_inst_per_s"] >= 1)))
        L.append(row("STOW-RS: median / p95 per 50-instance request (ms)", median_p95(o), median_p95(t),
                     f"{ratio(o['median_ms'], t['median_ms'])} / {ratio(o['p95_ms'], t['p95_ms'])}", "", ""))
    for kind in FIGURE_ORDER:
        q = f.get("qido", {}).get(kind)
        if not q:
            continue
        note = "" if not q["count_mismatches"] else f" ({q['count_mismatches']} of {q['ours']['n']} result counts differ)"
        # A faster answer that differs from Orthanc's is no pass (see docs/benchmarks.md for who is wrong).
        verdict = "**answers differ**" if q["count_mismatches"] else met(q["ratio_p95"] <= 1)
        L.append(row(f"QIDO {kind}: median / p95 (ms){note}", median_p95(q["ours"]), median_p95(q["orthanc"]),
                     f"{q['ratio_median']} / {q['ratio_p95']}", "p95 ≤ 1", verdict))
    station, by_id = f.get("qido", {}).get("series?StationName"), f.get("qido", {}).get("studies?PatientID")
    if station and by_id:
        # issue 17: a key outside the table within 2 x the p95 of a PatientID query, on our server
        r = ratio(station["ours"]["p95_ms"], by_id["ours"]["p95_ms"])
        L.append(row("… QIDO series?StationName p95 ÷ our studies?PatientID p95", station["ours"]["p95_ms"],
                     f"{by_id['ours']['p95_ms']} (ours, PatientID)", r, "≤ 2", met(r is not None and r <= 2)))
    m = f.get("metadata")
    if m:
        of, tf = m["ours"].get("first_request"), m["orthanc"].get("first_request")
        if of and tf:
            L.append(row(f"WADO-RS metadata of a {m['instances']}-instance series, first request (cold), "
                         f"{of['n']} series: median / max (ms)", f"{of['median_ms']} / {of['max_ms']}",
                         f"{tf['median_ms']} / {tf['max_ms']}", m["ratio_first_median"], "≤ 1",
                         met(m["ratio_first_median"] <= 1)))
        L.append(row("… repeated: median / p95 (ms)", median_p95(m["ours"]), median_p95(m["orthanc"]),
                     f"{m['ratio_median']} / {m['ratio_p95']}", "≤ 1", met(m["ratio_p95"] <= 1)))
        oc, tc = m["ours"]["conditional"], m["orthanc"]["conditional"]
        L.append(row("… repeat with If-None-Match: status, median (ms)", f"{oc.get('statuses')}, {oc.get('median_ms', '—')}",
                     f"{tc.get('statuses') or 'no ETag'}, {tc.get('median_ms', '—')}", "", "304",
                     met(oc.get("statuses") == [304])))
    fr = f.get("frames")
    if fr:
        o, t = fr["ours"], fr["orthanc"]
        last_over_first = lambda x: f"{x['last_over_first_median']} ({x['last']['median_ms']} / {x['first']['median_ms']} ms)"  # noqa: E731
        L.append(row(f"Frames of a {fr['frames']}-frame instance ({fr['frame_bytes'] // 1024} KiB/frame): last ÷ first "
                     "frame, median", last_over_first(o), last_over_first(t), "", "≤ 1.5",
                     met(o["last_over_first_median"] <= 1.5)))
        L.append(row("Frames: random frames/s, 1 client", o["frames_per_s"], t["frames_per_s"], fr["ratio_frames_per_s"],
                     "≥ 1", met(fr["ratio_frames_per_s"] >= 1)))
    r = f.get("retrieve")
    if r:
        o, t = r["ours"], r["orthanc"]
        L.append(row(f"Retrieve of a {r['study_bytes'] / 1e9:.2f} GB study: MB/s", o["mb_per_s"], t["mb_per_s"],
                     r["ratio_mb_per_s"], "", ""))
        flat = o.get("old_gen_peak_delta_mib") is not None and o["old_gen_peak_delta_mib"] < 100
        L.append(row("… server memory while it streams: peak delta (MiB)",
                     f"heap {o.get('heap_peak_delta_mib')} (old gen {o.get('old_gen_peak_delta_mib')}; "
                     f"{o.get('heap_samples')} samples)", f"RSS {t.get('rss_peak_delta_mib')}", "", "flat", met(flat)))
    return L
