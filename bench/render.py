"""The `render` phase of bench/run.py: rendered images and thumbnails, ours next to Orthanc.

Both servers run at once, in the loopback-only network namespace bench/run.py puts itself in
(scripts/orthanc.sh ns); both get the same instances by STOW-RS and the same client code drives
both, alternating which goes first (A B, then B A) so load from other work on the machine falls on
both alike.

Figures (issue 15's bar; see docs/benchmarks.md, "Rendered images and thumbnails vs Orthanc"):
  rendered   per corpus instance kind (native CT, JPEG baseline colour, JPEG 2000, ...): after an
             untimed warm-up, `n` requests of `…/instances/{uid}/rendered` (Accept: image/jpeg)
             with `clients` concurrent clients: requests/s and p95; ratio ours ÷ Orthanc, bar ≥ 1.
             A kind Orthanc does not render (an error or no JPEG) is timed for us only and says so.
             By default every request asks for the same instance (what a server's caches help);
             with `distinct` (--render-distinct) each timed request asks for a copy of the file
             with a new SOP Instance UID that neither server has rendered.
  thumbnail  a study list of 100 studies (bench/gen_dataset.py, 1 series × 3 instances each):
             the time to fetch every study's thumbnail with 4 clients. Ours: `/studies/{uid}/thumbnail`.
             Orthanc: its DICOMweb plugin's study thumbnail if it answers with an image, else its
             own `/instances/{id}/preview` (Accept: image/jpeg) of the same representative instance
             (the middle instance of the first series), its Orthanc id looked up before timing.
             Timed once cold (no thumbnail of these studies cached by us) and then repeated
             (median of `repeats` lists): speed-up Orthanc seconds ÷ ours, bar ≥ 3.
  memory     the large images (1955×1841 16-bit native and JPEG 2000, a 120-frame colour cine)
             rendered `loop` times each against our server (2 clients) while the server's
             /proc/<pid>/status VmRSS is sampled: RSS before, at half-way, after, peak (VmHWM).
             Flat: the second half grows RSS by at most 5 %.

Every answer counted must be a 200 with a JPEG body (FF D8); a few per kind and server are decoded
with Pillow and their size checked, and ours is compared with Orthanc's (Pearson correlation of
the grey levels), so a fast error is never counted as a win.
"""

from __future__ import annotations

import http.client as httpclient
import io
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pydicom
import requests

import common
import gen_dataset as gd
from common import met, pct, row
from facade import Orthanc, ratio, stow, stow_once

JPEG = "image/jpeg"
http = common.session

# (key, label, corpus file relative to .data, share of `n` timed: big images get fewer requests)
KINDS = [
    ("ct", "native CT 128×128 16-bit (CT_small)", "pydicom/CT_small.dcm", 1.0),
    ("jpeg-rgb", "JPEG baseline colour 100×100 YBR_FULL (SC_rgb_jpeg_dcmtk)", "pydicom/SC_rgb_jpeg_dcmtk.dcm", 1.0),
    ("jpeg-rgb-256", "JPEG baseline colour 256×256 RGB (SC_rgb_jpeg_app14_dcmd)", "pydicom/SC_rgb_jpeg_app14_dcmd.dcm", 1.0),
    ("j2k", "JPEG 2000 lossless 64×64 16-bit (MR_small_jp2klossless)", "pydicom/MR_small_jp2klossless.dcm", 1.0),
    ("j2k-rgb", "JPEG 2000 lossless colour 640×480 (US1_J2KR)", "pydicom-data/US1_J2KR.dcm", 0.5),
    ("large-native", "native 1955×1841 16-bit MONOCHROME1 (RG1_UNCR)", "pydicom-data/RG1_UNCR.dcm", 0.25),
    ("large-j2k", "JPEG 2000 lossless 1955×1841 16-bit (RG1_J2KR)", "pydicom-data/RG1_J2KR.dcm", 0.25),
    ("cine", "JPEG baseline colour cine 640×480 × 120 frames, frame 1 (color3d_jpeg_baseline)",
     "pydicom-data/color3d_jpeg_baseline.dcm", 0.25),
]
LARGE = ["large-native", "large-j2k", "cine"]
# Untimed requests before any timing, per server: the JVM compiles HAPI's read path (study search,
# Binary read, access checks) only after some hundreds of requests; a first run with 10 warm-up
# requests per kind timed our interpreter (CT 38 req/s against some 280 once compiled).
JIT_WARMUP = 600
WARMUP = 20  # untimed requests per kind and server (a quarter of it for big images)
THUMB_STUDIES = 100
THUMB_WARM_STUDIES = 10
THUMB_PER_SERIES = 3


def log(msg: str):
    common.log(msg, "render: ")


def data_dir(root: Path) -> Path:
    import os
    env = os.environ.get("DICOMFHIR_DATA")
    return Path(env) if env else root / ".data"


# --------------------------------------------------------------------------------------------
# answers


def is_jpeg(r) -> bool:
    return (r.status_code == 200 and r.headers.get("Content-Type", "").split(";")[0].strip() == JPEG
            and r.content[:2] == b"\xff\xd8")


def decode(body: bytes) -> np.ndarray:
    """The image as grey levels (Pillow): raises when it is no decodable image."""
    from PIL import Image
    im = Image.open(io.BytesIO(body))
    im.load()
    return np.asarray(im.convert("L"), dtype=np.float64)


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.shape != b.shape or a.std() == 0 or b.std() == 0:
        return None
    return round(float(np.corrcoef(a.ravel(), b.ravel())[0, 1]), 4)


class Answer:
    """What is_jpeg and the checks read of an answer (requests.Response's names)."""

    def __init__(self, status: int, headers, content: bytes):
        self.status_code, self.headers, self.content = status, headers, content


_conns = threading.local()


def fetch(url: str, accept: str = JPEG) -> tuple[float, Answer]:
    """One GET on this thread's keep-alive connection (http.client, not requests: requests costs
    some 0.8 ms of client CPU per request, which capped this client at about 1,200 requests/s
    against a server that answers instantly; http.client reaches some 6,500: docs/benchmarks.md,
    "The ceiling of the render client")."""
    u = urlsplit(url)
    key = (u.hostname, u.port)
    pool = getattr(_conns, "pool", None)
    if pool is None:
        pool = _conns.pool = {}
    path = u.path + ("?" + u.query if u.query else "")
    t = time.perf_counter()
    for attempt in (0, 1):
        conn = pool.get(key)
        fresh = conn is None
        if fresh:
            conn = pool[key] = httpclient.HTTPConnection(u.hostname, u.port, timeout=600)
        try:
            conn.request("GET", path, headers={"Accept": accept})
            r = conn.getresponse()
            body = r.read()
            return time.perf_counter() - t, Answer(r.status, r.headers, body)
        except (httpclient.HTTPException, ConnectionError):
            conn.close()
            del pool[key]
            if fresh or attempt:
                raise  # a kept-alive connection the server closed is retried once, on a new one


def hammer(urls: list[str], clients: int) -> dict:
    """GETs every URL (in order, `clients` threads); latencies of the JPEG answers, the others counted."""
    lat = [0.0] * len(urls)
    bad = []
    t0 = time.perf_counter()

    def one(k: int):
        t, r = fetch(urls[k])
        lat[k] = t
        if not is_jpeg(r):
            bad.append(f"{r.status_code} {r.headers.get('Content-Type')} {r.content[:120]!r}")

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(len(urls))))
    return {"n": len(urls), "wall": time.perf_counter() - t0, "lat": lat, "bad": bad}


def summary(runs: list[dict]) -> dict:
    n = sum(r["n"] for r in runs)
    wall = sum(r["wall"] for r in runs)
    lat = [x for r in runs for x in r["lat"]]
    bad = [b for r in runs for b in r["bad"]]
    return {"requests": n, "seconds": round(wall, 2), "req_per_s": round(n / wall, 1),
            "median_ms": round(statistics.median(lat) * 1000, 1), "p95_ms": round(pct(lat, 0.95) * 1000, 1),
            "errors": len(bad), "first_error": bad[0] if bad else None}


# --------------------------------------------------------------------------------------------
# figures


def store_corpus(peers: dict, root: Path, kinds: list) -> dict:
    """STOW-RS of each corpus file into both; returns key → (study, series, sop, rows, cols).
    Orthanc refusing a file is recorded (its rendered answer is then a 404, timed for us only)."""
    out = {}
    for key, label, rel, _ in kinds:
        path = data_dir(root) / rel
        data = path.read_bytes()
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        for n, base in peers.items():
            status, failed = stow_once(base, [data])
            if status != 200 or failed:
                if n == "ours":
                    raise RuntimeError(f"{n}: STOW of {rel}: {status} {failed}")
                log(f"Orthanc refused {rel}: {status} {failed[:200]}")
        out[key] = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID),
                    int(ds.Rows), int(ds.Columns))
        log(f"stored {rel} ({len(data) / 1e6:.2f} MB) in both")
    return out


def uid_copies(data: bytes, sop: str, count: int) -> list[tuple[str, bytes]]:
    """`count` copies of a Part-10 file with new SOP Instance UIDs of the same length (the last
    component long enough rewritten), every other byte unchanged: the pixel data and any quirk of the corpus
    file stay as they are."""
    parts = sop.split(".")
    need = len(str(count - 1)) + 1
    fits = [i for i, c in enumerate(parts) if len(c) >= need]
    if not fits:
        raise RuntimeError(f"{sop}: no UID component long enough for {count} copies")
    i = fits[-1]  # the last component long enough
    out = []
    for k in range(count):
        uid = ".".join(parts[:i] + [f"9{k:0{len(parts[i]) - 1}d}"] + parts[i + 1:])
        out.append((uid, data.replace(sop.encode(), uid.encode())))
    return out


def store_distinct(peers: dict, root: Path, kinds: list, refs: dict, n: int, clients: int) -> dict:
    """For each kind, as many copies (new SOP Instance UIDs, same series) as it has timed requests,
    stored in both: each timed request then asks for an instance neither server rendered before,
    so no cache of parsed files or decoded images answers it. Returns key → list of refs."""
    out = {}
    for key, label, rel, share in kinds:
        study, series, sop, rows, cols = refs[key]
        count = max(20, int(n * share))
        copies = uid_copies((data_dir(root) / rel).read_bytes(), sop, count)
        for p, base in peers.items():
            r = stow(base, [d for _, d in copies], clients)
            if any(x != 200 for x in r["status"]) or r["errors"]:
                if p == "ours":
                    raise RuntimeError(f"ours: STOW of copies of {rel}: {r['errors'][:1]}")
                log(f"Orthanc refused copies of {rel}: {r['errors'][:1]}")
        out[key] = [(study, series, uid, rows, cols) for uid, _ in copies]
        log(f"stored {count} copies of {rel} in both")
    return out


def rendered_url(base: str, ref) -> str:
    study, series, sop = ref[:3]
    return f"{base}/studies/{study}/series/{series}/instances/{sop}/rendered"


def figure_rendered(peers: dict, kinds: list, refs: dict, n: int, clients: int, distinct: dict | None = None) -> dict:
    """With `distinct` (key → refs of copies), the timed requests go to those copies, one request
    each; the warm-up and the checks stay on the corpus instance."""
    names = list(peers)
    out = {}
    for kk, (key, label, rel, share) in enumerate(kinds):
        ref = refs[key]
        count = max(20, int(n * share))
        urls = {p: rendered_url(peers[p], ref) for p in names}
        res = {"label": label, "file": rel, "rows": ref[3], "columns": ref[4], "distinct": bool(distinct)}
        # warm-up (untimed) and checks: the answer is a JPEG of the instance's size
        images = {}
        renders = {}
        for p in names:
            t, r = fetch(urls[p])
            renders[p] = is_jpeg(r)
            check = {"status": r.status_code, "content_type": r.headers.get("Content-Type"), "bytes": len(r.content)}
            if renders[p]:
                try:
                    img = decode(r.content)
                    images[p] = img
                    check["decoded"] = f"{img.shape[1]}×{img.shape[0]}"
                    check["size_ok"] = img.shape == (ref[3], ref[4])
                    check["grey_mean"] = round(float(img.mean()), 1)
                except Exception as e:  # noqa: BLE001 - any failure to decode is a non-image
                    renders[p] = False
                    check["decode_error"] = str(e)[:200]
            else:
                check["body"] = r.content[:200].decode("utf-8", "replace")
            res.setdefault("check", {})[p] = check
        if not renders["ours"]:
            raise RuntimeError(f"ours does not render {rel}: {res['check']['ours']}")
        timed = [p for p in names if renders[p]]
        for p in timed:
            hammer([urls[p]] * max(5, int(WARMUP * share)), clients)
        if len(images) == 2:
            res["correlation_ours_orthanc"] = correlation(images["ours"], images["orthanc"])
        runs = {p: [] for p in timed}
        half = count // 2
        for k in range(2):
            order = timed if (k + kk) % 2 == 0 else list(reversed(timed))
            for p in order:
                if distinct:
                    targets = distinct[key][:half] if k == 0 else distinct[key][half:count]
                    runs[p].append(hammer([rendered_url(peers[p], c) for c in targets], clients))
                else:
                    runs[p].append(hammer([urls[p]] * (half if k == 0 else count - half), clients))
        for p in timed:
            res[p] = summary(runs[p])
        if "orthanc" not in timed:
            res["orthanc"] = None
            res["orthanc_renders"] = False
        else:
            res["orthanc_renders"] = True
            res["ratio_req_per_s"] = ratio(res["ours"]["req_per_s"], res["orthanc"]["req_per_s"])
            res["ratio_p95"] = ratio(res["ours"]["p95_ms"], res["orthanc"]["p95_ms"])
        res["clients"] = clients
        out[key] = res
        o = res["orthanc"]
        log(f"rendered {key}: ours {res['ours']['req_per_s']}/s p95 {res['ours']['p95_ms']} ms; "
            + (f"Orthanc {o['req_per_s']}/s p95 {o['p95_ms']} ms; ratio {res['ratio_req_per_s']}"
               if o else f"Orthanc does not render it: {res['check']['orthanc']}"))
    return out


def thumbnail_dataset(seed: int, templates: dict, tag: str, studies: int):
    plan = gd.plan(studies, 1, THUMB_PER_SERIES, seed=seed, tag=tag)
    return plan, [d for _, d in gd.render(plan, templates)]


def orthanc_id(orthanc_root: str, sop: str) -> str:
    r = http().post(f"{orthanc_root}/tools/lookup", data=sop, timeout=60)
    r.raise_for_status()
    hits = [h for h in r.json() if h.get("Type") == "Instance"]
    if not hits:
        raise RuntimeError(f"Orthanc: no instance {sop}")
    return hits[0]["ID"]


def thumbnail_urls(peers: dict, orthanc_root: str, plan, mode: str) -> dict:
    ours = [f"{peers['ours']}/studies/{st.uid}/thumbnail" for st in plan]
    if mode == "dicomweb":
        theirs = [f"{peers['orthanc']}/studies/{st.uid}/thumbnail" for st in plan]
    else:
        # the representative instance, as ours picks it: the middle instance of the first series
        theirs = [f"{orthanc_root}/instances/{orthanc_id(orthanc_root, st.series[0].instances[len(st.series[0].instances) // 2])}/preview"
                  for st in plan]
    return {"ours": ours, "orthanc": theirs}


def figure_thumbnails(peers: dict, orthanc_root: str, seed: int, templates: dict, clients: int, repeats: int) -> dict:
    warm_plan, warm_items = thumbnail_dataset(seed, templates, "thumbwarm", THUMB_WARM_STUDIES)
    plan, items = thumbnail_dataset(seed, templates, "thumblist", THUMB_STUDIES)
    log(f"thumbnails: storing {len(plan)} studies ({len(items)} instances) + {len(warm_plan)} warm-up studies in both")
    for n, base in peers.items():
        r = stow(base, warm_items + items, clients)
        if r["errors"] or any(s != 200 for s in r["status"]):
            raise RuntimeError(f"{n}: STOW of the thumbnail studies failed: {r['errors'][:2]}")
    # Orthanc: the DICOMweb plugin's study thumbnail if it answers with an image, else /preview
    t, probe = fetch(f"{peers['orthanc']}/studies/{plan[0].uid}/thumbnail")
    mode = "dicomweb" if is_jpeg(probe) else "preview"
    how = {"dicomweb": "its DICOMweb plugin's /studies/{uid}/thumbnail",
           "preview": f"/instances/{{id}}/preview (Accept: image/jpeg) of the representative instance; its "
                      f"DICOMweb /studies/{{uid}}/thumbnail answered {probe.status_code}"}[mode]
    log(f"thumbnails: Orthanc through {how}")
    warm = thumbnail_urls(peers, orthanc_root, warm_plan, mode)
    urls = thumbnail_urls(peers, orthanc_root, plan, mode)
    checks = {}
    for p in peers:
        # untimed: other studies, so none of the list is cached; repeated, so the JVM compiles the path
        hammer(warm[p] * 30, clients)
        # a few answers decoded: real images of the expected size
        sizes = []
        for u in warm[p][:3]:
            _, r = fetch(u)
            if not is_jpeg(r):
                raise RuntimeError(f"{p}: thumbnail {u}: {r.status_code} {r.content[:200]!r}")
            img = decode(r.content)
            sizes.append(f"{img.shape[1]}×{img.shape[0]}")
        checks[p] = sizes
    lists = {p: [] for p in peers}
    names = list(peers)
    for k in range(1 + repeats):
        for p in (names if k % 2 == 0 else list(reversed(names))):
            r = hammer(urls[p], clients)
            if r["bad"]:
                raise RuntimeError(f"{p}: thumbnail list {k}: {len(r['bad'])} errors, e.g. {r['bad'][0]}")
            lists[p].append(r)
    out = {"orthanc_source": mode, "orthanc_how": how, "studies": len(plan), "clients": clients,
           "repeats": repeats, "decoded_sizes": checks}
    for p in names:
        first = lists[p][0]
        again = lists[p][1:]
        out[p] = {"first_s": round(first["wall"], 3), "first_p95_ms": round(pct(first["lat"], 0.95) * 1000, 1),
                  "repeat_s": round(statistics.median(r["wall"] for r in again), 3),
                  "repeat_p95_ms": round(pct([x for r in again for x in r["lat"]], 0.95) * 1000, 1)}
    out["speedup_first"] = ratio(out["orthanc"]["first_s"], out["ours"]["first_s"], 2)
    out["speedup_repeat"] = ratio(out["orthanc"]["repeat_s"], out["ours"]["repeat_s"], 2)
    log(f"thumbnails: ours {out['ours']}, Orthanc {out['orthanc']}; speed-up first {out['speedup_first']}, "
        f"repeated {out['speedup_repeat']}")
    return out


def proc_status(pid: int) -> dict:
    v = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, rest = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            v[k] = int(rest.split()[0])
    return v


def figure_memory(base: str, refs: dict, pid: int, loop: int, clients: int = 2) -> dict:
    """Renders every large image `loop` times (interleaved) against our server; RSS sampled."""
    urls = [rendered_url(base, refs[k]) for k in LARGE if k in refs]
    hammer(urls * 3, clients)  # warm-up: every code path and buffer size once
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(proc_status(pid)["VmRSS"])
            stop.wait(0.2)

    before = proc_status(pid)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    first = hammer(urls * (loop // 2), clients)
    mid = proc_status(pid)
    second = hammer(urls * (loop - loop // 2), clients)
    after = proc_status(pid)
    stop.set()
    th.join()
    mib = lambda kib: round(kib / 1024, 1)  # noqa: E731
    out = {"images": [k for k in LARGE if k in refs], "renders": first["n"] + second["n"], "loop": loop,
           "clients": clients, "seconds": round(first["wall"] + second["wall"], 1),
           "errors": len(first["bad"]) + len(second["bad"]),
           "rss_before_mib": mib(before["VmRSS"]), "rss_mid_mib": mib(mid["VmRSS"]), "rss_after_mib": mib(after["VmRSS"]),
           "rss_peak_sampled_mib": mib(max(samples or [after["VmRSS"]])), "samples": len(samples),
           "hwm_before_mib": mib(before["VmHWM"]), "hwm_after_mib": mib(after["VmHWM"])}
    out["second_half_growth_pct"] = round((after["VmRSS"] - mid["VmRSS"]) / mid["VmRSS"] * 100, 1)
    out["flat"] = out["errors"] == 0 and out["second_half_growth_pct"] <= 5
    log(f"memory: {out}")
    return out


# --------------------------------------------------------------------------------------------


def run(root: Path, work: Path, server, templates: dict, clients: int, seed: int, n: int = 200,
        loop: int = 200, thumb_repeats: int = 5, kinds: list[str] | None = None, distinct: bool = False) -> dict:
    """server: the started plugin Server of bench/run.py (H2). Starts and stops Orthanc itself."""
    orthanc = Orthanc(root, work).start()
    orthanc_root = orthanc.base.rsplit("/dicom-web", 1)[0]
    peers = {"ours": f"{server.base}/dicomweb", "orthanc": orthanc.base}
    chosen = [k for k in KINDS if kinds is None or k[0] in kinds]
    import os
    gdcm = os.environ.get("ORTHANC_GDCM") == "1"  # scripts/orthanc.sh: the GDCM plugin for JPEG 2000
    res = {"orthanc_version": orthanc.version + (" + GDCM plugin (JPEG 2000 only)" if gdcm else ""),
           "orthanc_gdcm": gdcm, "n": n, "clients": clients}
    try:
        refs = store_corpus(peers, root, chosen)
        if any(k[3] >= 1.0 for k in chosen):
            log(f"JIT warm-up: {JIT_WARMUP} rendered requests of the small images to each server (untimed)")
            for p in peers:
                urls = [rendered_url(peers[p], refs[k[0]]) for k in chosen if k[3] >= 1.0]
                hammer((urls * JIT_WARMUP)[:JIT_WARMUP], clients)
        copies = store_distinct(peers, root, chosen, refs, n, clients) if distinct else None
        res["rendered"] = figure_rendered(peers, chosen, refs, n, clients, copies)
        res["thumbnails"] = figure_thumbnails(peers, orthanc_root, seed, templates, clients, thumb_repeats)
        if loop and any(k in refs for k in LARGE):
            res["memory"] = figure_memory(peers["ours"], refs, server.proc.pid, loop)
    finally:
        orthanc.stop()
    return res


def markdown_rows(f: dict) -> list[str]:
    """Rows of bench/run.py's table: figure | ours | reference | ratio | bar | met."""
    L = []
    for key, r in f.get("rendered", {}).items():
        o, t = r["ours"], r.get("orthanc")
        corr = r.get("correlation_ours_orthanc")
        what = (f"Rendered JPEG, {r['label']}, {r['clients']} clients"
                + (", each request a distinct instance" if r.get("distinct") else "") + ": requests/s (p95 ms)")
        if t:
            L.append(row(what + ("" if corr is None else f"; ours vs Orthanc r = {corr}"), f"{o['req_per_s']} ({o['p95_ms']})",
                         f"{t['req_per_s']} ({t['p95_ms']}) (Orthanc)", r["ratio_req_per_s"], "≥ 1",
                         met(r["ratio_req_per_s"] >= 1 and o["errors"] == 0)))
        else:
            c = r["check"]["orthanc"]
            L.append(row(what, f"{o['req_per_s']} ({o['p95_ms']})",
                         f"not rendered by Orthanc ({c['status']} {c.get('content_type') or ''})", "—",
                         "≥ 1 if Orthanc renders it", f"{met(o['errors'] == 0)} (ours only)"))
    th = f.get("thumbnails")
    if th:
        o, t = th["ours"], th["orthanc"]
        src = "DICOMweb thumbnail" if th["orthanc_source"] == "dicomweb" else "/instances/{id}/preview"
        L.append(row(f"Thumbnails of a {th['studies']}-study list, {th['clients']} clients, first time (s)", o["first_s"],
                     f"{t['first_s']} (Orthanc {src})", f"{th['speedup_first']}×", "≥ 3×", met(th["speedup_first"] >= 3)))
        L.append(row(f"… the same list again, median of {th['repeats']} (s)", o["repeat_s"], t["repeat_s"],
                     f"{th['speedup_repeat']}×", "≥ 3×", met(th["speedup_repeat"] >= 3)))
    m = f.get("memory")
    if m:
        L.append(row(f"Server RSS while rendering the large images ({', '.join(m['images'])}) {m['loop']} times each "
                     f"({m['renders']} renders, {m['clients']} clients): before / half-way / after / peak sampled (MiB)",
                     f"{m['rss_before_mib']} / {m['rss_mid_mib']} / {m['rss_after_mib']} / {m['rss_peak_sampled_mib']} "
                     f"(VmHWM {m['hwm_after_mib']})", "", f"second half {m['second_half_growth_pct']} %", "flat (≤ 5 %)",
                     met(m["flat"])))
    return L
