#!/usr/bin/env python3
"""dicom-fhir benchmark: one command, one run, every comparison side by side.

    python3 bench/run.py                      # default: about 10,000 instances
    python3 bench/run.py --instances 2000     # smaller (say so when you quote the numbers)
    python3 bench/run.py --large              # about 100,000 instances
    python3 bench/run.py --phases core,h2     # a subset: core, h2, linearity, postgres, facade, smart, dimse

Needs the built server (`mvn -B -DskipTests install` → examples/target/dicom-fhir-example-server-*.jar),
cargo (for bench/core-bench), the test corpus (scripts/fetch-test-data.sh) and, for the PostgreSQL
phase, scripts/postgres.sh (installs the Debian package when missing, as root). The Python packages of
bench/requirements.txt are installed into target/bench-venv on first use.

Everything runs on 127.0.0.1: servers on free loopback ports with throwaway data directories under
/tmp, stopped at the end. Writes bench/results/results.json, results.md and linearity.png (or --out).

Phases
  core       Rust core per instance (bench/core-bench) next to pydicom (bench/pydicom_bench.py) and
             SHA-256 alone over the same bytes.
  h2         Binary ingest, plugin vs the same server with the plugin disabled
             (--hapi.fhir.custom-bean-packages= → plain HAPI Binary POST), H2 database. Both servers
             run at once and get the same instances in alternating rounds, so load on the machine
             hits both alike.
  linearity  Per-instance ingest cost into one 2,000-instance study vs into 10-instance studies, with
             1 and with 8 concurrent uploaders (plugin, H2), plus a plot of cost against study size.
  postgres   The h2 comparison again on PostgreSQL (scripts/postgres.sh).
  facade     Our DICOMweb facade vs Orthanc + DICOMweb plugin (bench/facade.py): STOW-RS, QIDO-RS,
             series metadata (+ If-None-Match), frames, heap while a ~1 GB study streams. Orthanc
             listens on every interface, so when this phase is selected the whole run re-executes
             itself in a loopback-only network namespace (scripts/orthanc.sh ns; root only, installs
             the Debian packages orthanc and orthanc-dicomweb when missing).
  smart      The cost of tokens (bench/smart.py): the facade's STOW-RS and QIDO-RS figures against two
             servers of the same jar at once, one with the `smart` profile (bearer tokens of a
             Keycloak started with scripts/idp.sh on a free port) and one without. Not in the default
             --phases (it needs Keycloak: downloaded and built once by scripts/idp.sh).
  dimse      C-STORE instances/s (bench/dimse.py): dcmtk's storescu sending the same files to
             `dicom-fhir listen` + the example server and to Orthanc's own C-STORE SCP, alternating
             rounds; the ratio ours ÷ Orthanc. Runs in the loopback-only namespace like facade.
             Needs target/release/dicom-fhir (cargo build --release -p dicom-fhir-cli) and dcmtk.
             Not in the default --phases.
  render     Rendered images and thumbnails vs Orthanc + DICOMweb plugin (bench/render.py): rendered
             JPEG requests/s per corpus kind (native CT, JPEG baseline colour, JPEG 2000, large
             images), thumbnails of a 100-study list, our server's RSS while the large images render
             in a loop. Needs no main dataset; in the loopback-only namespace like facade. Not in the
             default --phases:  python3 bench/run.py --phases render
  huge       A million instances on PostgreSQL (bench/huge.py): tiny generated instances streamed by
             STOW-RS in 1 % blocks, the rate per block, QIDO p95 and database/blob bytes per instance
             at --huge-checkpoints, Orthanc alongside within --huge-orthanc-budget-s (in the
             loopback-only namespace unless --huge-no-orthanc). Resumes from --huge-work after a stop.
             Not in the default --phases:  python3 bench/run.py --phases huge
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
VENV = ROOT / "target" / "bench-venv"


def bootstrap():
    """Re-run inside target/bench-venv (created from bench/requirements.txt) unless the imports work."""
    try:
        import matplotlib  # noqa: F401
        import pydicom  # noqa: F401
        import requests  # noqa: F401
        return
    except ImportError:
        pass
    py = VENV / "bin" / "python"
    if Path(sys.executable).resolve() == py.resolve() and os.environ.get("DICOMFHIR_BENCH_BOOTSTRAPPED"):
        sys.exit("bench: the packages of bench/requirements.txt are not importable in target/bench-venv")
    if not py.exists():
        print(f"bench: creating {VENV} (bench/requirements.txt)", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    subprocess.check_call([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "-r", str(BENCH / "requirements.txt")])
    os.environ["DICOMFHIR_BENCH_BOOTSTRAPPED"] = "1"
    # The script that was started (bench/run.py, or a tool that imports it, e.g. pg_statements.py).
    os.execv(str(py), [str(py), os.path.abspath(sys.argv[0]), *sys.argv[1:]])


bootstrap()

import requests  # noqa: E402

sys.path.insert(0, str(BENCH))
sys.path.append(str(ROOT / "tests"))
import gen_dataset as gd  # noqa: E402
import server_harness  # noqa: E402  (the one way the example server is started, tests/server_harness.py)
from server_harness import free_port  # noqa: E402  (bench/dimse.py, smart.py, profile_ingest.py call run.free_port)
from common import log, median_p95, met, pct, row, session, settle  # noqa: E402

# Benchmark JVM: C2 on (no TieredStopAtLevel=1: that is for fast test start-ups), a heap that
# fits two servers and PostgreSQL in 24 GiB, the throughput collector (2 cores).
DEFAULT_JAVA_OPTS = "-Xms1g -Xmx4g -XX:+UseParallelGC"
CLIENTS = 4
WARMUP = 300
ROUNDS = 4
# Phases that upload the main dataset (render brings its own instances).
DATASET_PHASES = {"core", "h2", "linearity", "postgres", "facade", "smart"}



# --------------------------------------------------------------------------------------------
# servers


class Server(server_harness.Server):
    """The example server (tests/server_harness.py) from the extracted jar (prepare_app) on a free
    loopback port, with the plugin or without it (plain HAPI), on H2 or PostgreSQL; its data and
    its log (server.log) in work/NAME, also its working directory (so it serves no viewer)."""

    def __init__(self, name: str, app: Path, work: Path, plugin: bool, java_opts: str,
                 pg: dict | None = None, extra: list[str] | None = None):
        self.dir = work / name
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [f"--example.data-dir={self.dir / 'data'}", f"--dicomfhir.node-id=bench-{name}"]
        if not plugin:
            args.append("--hapi.fhir.custom-bean-packages=")
        if pg:
            args += ["--spring.profiles.active=postgres", f"--spring.datasource.url={pg['url']}",
                     f"--spring.datasource.username={pg['user']}", f"--spring.datasource.password={pg['password']}"]
        super().__init__(app, self.dir, name, java_opts=java_opts.split(), args=args + list(extra or []), cwd=self.dir)
        self.started_s = None

    def start(self):
        self.t0 = time.time()
        return super().start(log_name="server.log")

    def wait(self, timeout: float = 900):
        """Until /fhir/metadata answers; the start-up time is a figure of the report."""
        try:
            self.wait_ready(timeout)
        except server_harness.HarnessError as e:
            raise RuntimeError(str(e)) from None
        self.started_s = round(time.time() - self.t0, 1)
        log(f"{self.name} up on :{self.port} in {self.started_s}s")
        return self


def prepare_app(work: Path, jar: Path | None) -> Path:
    """Extracts the server jar (--jar, else the test harness' choice: $DICOMFHIR_JAR or the newest
    built one) into the work directory: a private copy (others may rebuild examples/target
    meanwhile) that also starts faster than the nested-jar launcher."""
    if jar is None:
        try:
            jar = server_harness.find_jar()
        except server_harness.HarnessError as e:
            sys.exit(f"bench: {e}")
    dest = work / "app"
    subprocess.check_call(["java", "-Djarmode=tools", "-jar", str(jar), "extract", "--destination", str(dest),
                           "--application-filename", "server.jar"], stdout=subprocess.DEVNULL)
    return dest / "server.jar"


def start_all(servers: list[Server]) -> list[Server]:
    for s in servers:
        s.start()
    for s in servers:
        s.wait()
    return servers


# --------------------------------------------------------------------------------------------
# the client (the same code for every server)

def upload(base: str, items: list[bytes], clients: int) -> dict:
    """POSTs every item as application/dicom with `clients` threads (items taken in order).
    Returns wall time, per-request latencies (s), completion times and statuses."""
    lat = [0.0] * len(items)
    done = [0.0] * len(items)
    status = [0] * len(items)
    locs = [""] * len(items)
    t0 = time.perf_counter()

    def one(k: int):
        t = time.perf_counter()
        try:
            r = session().post(f"{base}/Binary", data=items[k], timeout=600,
                               headers={"Content-Type": "application/dicom", "Accept": "application/fhir+json"})
            status[k] = r.status_code
            locs[k] = r.headers.get("Location", "")
        except requests.RequestException as e:
            status[k] = -1
            locs[k] = str(e)[:200]
        end = time.perf_counter()
        lat[k] = end - t
        done[k] = end - t0

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(len(items))))
    # Until the studies list every instance: with deferred study writes any read waits for them.
    session().get(f"{base}/ImagingStudy", params={"_summary": "count"}, timeout=600)
    wall = time.perf_counter() - t0
    return {"n": len(items), "wall": wall, "lat": lat, "done": done, "status": status, "locs": locs}


def summarize(runs: list[dict]) -> dict:
    n = sum(r["n"] for r in runs)
    wall = sum(r["wall"] for r in runs)
    lat = [x for r in runs for x in r["lat"]]
    st = Counter(s for r in runs for s in r["status"])
    return {"instances": n, "seconds": round(wall, 2), "inst_per_s": round(n / wall, 1),
            "per_instance_ms": round(wall / n * 1000, 2),
            "median_ms": round(statistics.median(lat) * 1000, 1), "p95_ms": round(pct(lat, 0.95) * 1000, 1),
            "statuses": {str(k): v for k, v in sorted(st.items())},
            "errors": sum(v for k, v in st.items() if k != 201)}


def dataset_bytes(studies) -> list[bytes]:
    return [data for _, data in gd.render(studies, TEMPLATES)]


# --------------------------------------------------------------------------------------------
# phases


def phase_core(work: Path, main_items: list[bytes], n: int) -> dict:
    folder = work / "core"
    folder.mkdir(exist_ok=True)
    items = main_items[:n]
    for k, data in enumerate(items):
        (folder / f"{k:06d}.dcm").write_bytes(data)
    log(f"core: building bench/core-bench (cargo build --release -p dicom-fhir-core-bench)")
    subprocess.check_call(["cargo", "build", "--release", "-q", "-p", "dicom-fhir-core-bench"], cwd=ROOT)
    exe = ROOT / "target" / "release" / "core-bench"
    log(f"core: Rust over {len(items)} instances")
    rust = json.loads(subprocess.check_output([str(exe), str(folder), "--rounds", "5"]))
    log(f"core: pydicom over the same instances")
    py = json.loads(subprocess.check_output([sys.executable, str(BENCH / "pydicom_bench.py"), str(folder),
                                             "--rounds", "3"]))
    r, p = rust["steps"], py["steps"]
    return {"rust": rust, "pydicom": py, "ratios": {
        "pydicom_full_over_rust_full": round(p["full"]["per_instance_us"] / r["full"]["per_instance_us"], 1),
        "pydicom_parse_over_rust_parse": round(p["parse"]["per_instance_us"] / r["parse"]["per_instance_us"], 1),
        "rust_ingest_over_sha256": round(r["ingest"]["per_instance_us"] / r["sha256"]["per_instance_us"], 1),
        "rust_full_over_sha256": round(r["full"]["per_instance_us"] / r["sha256"]["per_instance_us"], 1),
        "rust_full_over_hashlib_sha256": round(r["full"]["per_instance_us"] / p["sha256"]["per_instance_us"], 1),
    }}


def study_count(base: str) -> int:
    r = session().get(f"{base}/ImagingStudy", params={"_summary": "count"},
                      headers={"Accept": "application/fhir+json"}, timeout=120)
    r.raise_for_status()
    return r.json()["total"]


def read_study(base: str, uid: str) -> dict:
    r = session().get(f"{base}/ImagingStudy/{uid}", headers={"Accept": "application/fhir+json"}, timeout=120)
    r.raise_for_status()
    return r.json()


def phase_ingest(label: str, plugin: Server, plain: Server, warm: list[bytes], items: list[bytes],
                 studies, clients: int) -> dict:
    """Same instances to both servers in alternating rounds; ratio of instances/s."""
    log(f"{label}: warm-up, {len(warm)} instances to each server")
    for s in (plugin, plain):
        w = upload(s.base, warm, clients)
        bad = Counter(x for x in w["status"] if x != 201)
        if bad:
            raise RuntimeError(f"{s.name}: warm-up statuses {bad}: {w['locs'][:2]}")
    settled = settle([plugin.proc.pid, plain.proc.pid])
    chunks = [items[k * len(items) // ROUNDS:(k + 1) * len(items) // ROUNDS] for k in range(ROUNDS)]
    runs = {plugin.name: [], plain.name: []}
    for k, chunk in enumerate(chunks):
        order = (plugin, plain) if k % 2 == 0 else (plain, plugin)
        for s in order:
            r = upload(s.base, chunk, clients)
            runs[s.name].append(r)
            log(f"{label}: round {k + 1}/{ROUNDS} {s.name}: {r['n']} in {r['wall']:.1f}s "
                f"({r['n'] / r['wall']:.1f}/s)")
    res = {s: summarize(v) for s, v in runs.items()}
    a, b = res[plugin.name], res[plain.name]
    # Sanity: the plugin stored Binary/<sha256> and indexed every study; plain HAPI did not.
    sample_loc = runs[plugin.name][0]["locs"][0]
    plain_loc = runs[plain.name][0]["locs"][0]
    expected_studies = len(studies) + len({x for x in WARM_STUDY_UIDS})
    got = study_count(plugin.base)
    first = read_study(plugin.base, studies[0].uid)
    checks = {
        "plugin_location_sample": sample_loc, "plain_location_sample": plain_loc,
        "plugin_imagingstudies": got, "expected_imagingstudies": expected_studies,
        "first_study_instances": first.get("numberOfInstances"),
        "first_study_expected": studies[0].instance_count,
        "plain_imagingstudies": study_count(plain.base),
    }
    ok = (got == expected_studies and first.get("numberOfInstances") == studies[0].instance_count
          and checks["plain_imagingstudies"] == 0 and a["errors"] == 0 and b["errors"] == 0)
    return {"clients": clients, "rounds": ROUNDS, "plugin": a, "plain": b, "checks": checks, "checks_ok": ok,
            "ratio_inst_per_s": round(a["inst_per_s"] / b["inst_per_s"], 3),
            "ratio_median": round(a["median_ms"] / b["median_ms"], 3),
            "ratio_p95": round(a["p95_ms"] / b["p95_ms"], 3),
            "startup_s": {plugin.name: plugin.started_s, plain.name: plain.started_s},
            "settle_before_rounds_s": settled}


def phase_linearity(server: Server, big_size: int, small_studies: int) -> dict:
    """Per-instance cost into one big study vs 10-instance studies, 1 and 8 uploaders.
    Small studies are measured before and after the big one (drift on a shared machine)."""
    out = {}
    for clients in (1, 8):
        t = f"c{clients}"
        small_a = gd.plan(small_studies, 1, 10, tag=f"small-a-{t}")
        small_b = gd.plan(small_studies, 1, 10, tag=f"small-b-{t}")
        big = gd.plan(1, 4, big_size // 4, tag=f"big-{t}")
        ra = upload(server.base, dataset_bytes(small_a), clients)
        log(f"linearity {clients} uploader(s): {ra['n']} into 10-instance studies: {ra['wall'] / ra['n'] * 1000:.1f} ms/inst")
        rb = upload(server.base, dataset_bytes(big), clients)
        log(f"linearity {clients} uploader(s): {rb['n']} into one study: {rb['wall'] / rb['n'] * 1000:.1f} ms/inst")
        rc = upload(server.base, dataset_bytes(small_b), clients)
        log(f"linearity {clients} uploader(s): {rc['n']} into 10-instance studies: {rc['wall'] / rc['n'] * 1000:.1f} ms/inst")
        small = summarize([ra, rc])
        large = summarize([rb])
        # Cost against study size: per 100 completions, wall time per instance.
        done = sorted(rb["done"])
        step = 100
        curve = []
        for k in range(0, len(done) - step + 1, step):
            prev = done[k - 1] if k else 0.0
            curve.append([k + step, round((done[k + step - 1] - prev) / step * 1000, 2)])
        tail = curve[-max(1, len(curve) // 10):]
        study = read_study(server.base, big[0].uid)
        out[t] = {
            "clients": clients, "small": small, "big": large,
            "ratio_per_instance": round(large["per_instance_ms"] / small["per_instance_ms"], 3),
            "ratio_median_latency": round(large["median_ms"] / small["median_ms"], 3),
            "big_last_10pct_ms_per_instance": round(statistics.mean(c[1] for c in tail), 2),
            "ratio_last_10pct": round(statistics.mean(c[1] for c in tail) / small["per_instance_ms"], 3),
            "curve": curve,
            "big_study_check": {"numberOfInstances": study.get("numberOfInstances"), "expected": big_size,
                                "version": study.get("meta", {}).get("versionId")},
        }
    return out


def plot_linearity(lin: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    colors = {"c1": "tab:blue", "c8": "tab:orange"}
    for key, r in lin.items():
        xs = [c[0] for c in r["curve"]]
        ys = [c[1] for c in r["curve"]]
        ax.plot(xs, ys, marker="o", ms=3, color=colors.get(key), label=f"one study, {r['clients']} uploader(s)")
        ax.axhline(r["small"]["per_instance_ms"], color=colors.get(key), ls="--", lw=1,
                   label=f"10-instance studies, {r['clients']} uploader(s)")
        ax.axhline(1.5 * r["small"]["per_instance_ms"], color=colors.get(key), ls=":", lw=1,
                   label=f"bar: 1.5 × 10-instance cost ({r['clients']})")
    ax.set_xlabel("instances in the study")
    ax.set_ylabel("wall time per instance (ms), per 100 uploads")
    ax.set_title("dicom-fhir ingest cost against study size (plugin, H2)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def phase_render(app: Path, work: Path, a) -> dict:
    """Rendered images and thumbnails, our server (H2) next to Orthanc + DICOMweb: bench/render.py."""
    import render
    server = Server("render-ours", app, work, True, a.java_opts)
    try:
        start_all([server])
        return render.run(ROOT, work, server, TEMPLATES, a.clients, a.seed, n=a.render_n, loop=a.render_loop,
                          kinds=a.render_kinds.split(",") if a.render_kinds else None, distinct=a.render_distinct)
    finally:
        server.stop()


def phase_facade(app: Path, work: Path, warm: list[bytes], items: list[bytes], studies, a) -> dict:
    """Our DICOMweb facade (plugin server, H2) next to Orthanc + DICOMweb: bench/facade.py."""
    import facade
    server = Server("facade-ours", app, work, True, a.java_opts)
    try:
        start_all([server])
        return facade.run(ROOT, work, server, warm, items, studies, TEMPLATES, a.clients, a.seed,
                          qido_n=a.qido_n, meta_instances=a.meta_instances, frames=a.frames,
                          big_instances=a.big_instances, figures=a.facade_figures.split(","))
    finally:
        server.stop()


def in_private_netns() -> bool:
    """True when this network namespace has loopback only (bench/run.py runs Orthanc only there)."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return [l.split(":")[1].strip() for l in out.splitlines() if ":" in l] == ["lo"]


def start_postgres(work: Path, dbs: list[str]) -> tuple[dict, list[dict]]:
    pgdir = work / "pg"
    port = free_port()
    urls = []
    for db in dbs:
        url = subprocess.check_output([str(ROOT / "scripts" / "postgres.sh"), "start", "--dir", str(pgdir),
                                       "--port", str(port), "--db", db, "--user", "bench", "--password", "bench"],
                                      text=True).strip().splitlines()[-1]
        urls.append({"url": url, "user": "bench", "password": "bench"})
    version = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return {"dir": str(pgdir), "port": port, "version": version}, urls


def stop_postgres(info: dict | None):
    if info:
        subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "stop", "--dir", info["dir"]])


# --------------------------------------------------------------------------------------------
# report


def machine(java_opts: str, jar: Path | None) -> dict:
    def cmd(*a):
        try:
            return subprocess.run(a, capture_output=True, text=True, timeout=30).stdout.strip() or \
                subprocess.run(a, capture_output=True, text=True, timeout=30).stderr.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    cpu = ""
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    java = cmd("java", "-version").splitlines()
    rev = cmd("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
    dirty = bool(cmd("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"))
    import matplotlib
    import pydicom
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "kernel": platform.release(),
            "os": cmd("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"),
            "java": java[1] if len(java) > 1 else (java[0] if java else ""), "java_opts": java_opts,
            "hapi": "HAPI FHIR 8.8.0 (example server, Spring Boot 3.5)", "server_jar": jar.name if jar else "",
            "rustc": cmd("rustc", "--version"), "python": platform.python_version(),
            "pydicom": pydicom.__version__, "matplotlib": matplotlib.__version__,
            "git": rev + (" (with uncommitted changes)" if dirty else ""),
            "loadavg_start": os.getloadavg()}


def fmt(x, unit=""):
    return "—" if x is None else f"{x}{unit}"


def markdown(res: dict) -> str:
    m = res["machine"]
    L = []
    d = res.get("dataset")
    if d:
        L.append(f"Run {res['started']} · {d['instances']} instances "
                 f"({d['studies']} studies × {d['series']} series × "
                 f"{d['per_series']}) · {d['bytes_per_instance']} bytes/instance · "
                 f"{res['duration_s']:.0f} s")
    else:
        L.append(f"Run {res['started']} · no main dataset (phases {res.get('phases')}) · {res['duration_s']:.0f} s")
    L.append("")
    L.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, {m['os']}, kernel {m['kernel']}; "
             f"load average at start {', '.join(f'{x:.1f}' for x in m['loadavg_start'])}, "
             f"at end {', '.join(f'{x:.1f}' for x in res.get('loadavg_end', []))}.  ")
    L.append(f"Versions: {m['hapi']}; {m['java']} (`{m['java_opts']}`); {m['rustc']}; Python {m['python']}, "
             f"pydicom {m['pydicom']}; {res.get('postgres_version', 'PostgreSQL not run')}; git {m['git']}.")
    L.append("")
    L.append("| figure | ours | reference | ratio | bar | met |")
    L.append("|---|---|---|---|---|---|")
    for name, key in (("H2", "h2"), ("PostgreSQL", "postgres")):
        r = res.get(key)
        if not r:
            continue
        a, b = r["plugin"], r["plain"]
        L.append(row(f"Binary ingest, {name}, {r['clients']} clients: instances/s", a["inst_per_s"],
                     f"{b['inst_per_s']} (plain HAPI)", r["ratio_inst_per_s"], "≥ 0.8", met(r["ratio_inst_per_s"] >= 0.8)))
        L.append(row(f"Binary ingest, {name}: median / p95 per request (ms)", median_p95(a), median_p95(b),
                     f"{r['ratio_median']} / {r['ratio_p95']}", "", ""))
    lin = res.get("linearity")
    if lin:
        for key in ("c1", "c8"):
            r = lin.get(key)
            if not r:
                continue
            big, small = r["big"], r["small"]
            L.append(row(f"Linearity, {r['clients']} uploader(s): ms per instance, one {big['instances']}-instance "
                         "study vs 10-instance studies", big["per_instance_ms"], small["per_instance_ms"],
                         r["ratio_per_instance"], "≤ 1.5", met(r["ratio_per_instance"] <= 1.5)))
            L.append(row(f"… the last 10% of that study (instances {int(big['instances'] * 0.9)}–{big['instances']})",
                         r["big_last_10pct_ms_per_instance"], small["per_instance_ms"], r["ratio_last_10pct"], "≤ 1.5",
                         met(r["ratio_last_10pct"] <= 1.5)))
            L.append(row(f"… median latency per request, {r['clients']} uploader(s) (ms)", big["median_ms"],
                         small["median_ms"], r["ratio_median_latency"], "", ""))
    core = res.get("core")
    if core:
        rs, ps = core["rust"]["steps"], core["pydicom"]["steps"]
        q = core["ratios"]
        us = lambda steps, step: f"{steps[step]['per_instance_us']:.0f}"  # noqa: E731
        L.append(row("Core per instance: parse + hash + ImagingStudy entry (plugin's call) (µs)", us(rs, "ingest"),
                     f"{us(rs, 'sha256')} (SHA-256 alone, Rust)", f"{q['rust_ingest_over_sha256']}× SHA-256", "report", "—"))
        L.append(row("Core per instance: + DICOM JSON + merge into a study (µs)", us(rs, "full"),
                     f"{us(ps, 'full')} (pydicom: dcmread + to_json_dict + hash + entry)",
                     f"pydicom ÷ Rust = {q['pydicom_full_over_rust_full']}", "report", "—"))
        L.append(row("Core per instance: parse + hash only (µs)", us(rs, "parse"),
                     f"{us(ps, 'parse')} (pydicom dcmread + hashlib)",
                     f"pydicom ÷ Rust = {q['pydicom_parse_over_rust_parse']}", "report", "—"))
        L.append(row("SHA-256 alone over the same bytes (µs)", f"{us(rs, 'sha256')} (Rust sha2)",
                     f"{us(ps, 'sha256')} (hashlib/OpenSSL)", "", "floor", "—"))
    if res.get("facade"):
        import facade
        L.extend(facade.markdown_rows(res["facade"]))
    if res.get("smart"):
        import smart
        L.extend(smart.markdown_rows(res["smart"]))
    if res.get("dimse"):
        import dimse
        L.extend(dimse.markdown_rows(res["dimse"]))
    if res.get("render"):
        import render
        L.extend(render.markdown_rows(res["render"]))
    if res.get("served"):
        import served
        L.extend(served.markdown_rows(res["served"]))
    if res.get("huge"):
        import huge
        L.extend(huge.markdown_rows(res["huge"]))
    L.append("")
    return "\n".join(L)


# --------------------------------------------------------------------------------------------


def save(res: dict, out: Path) -> str:
    """Writes results.json and results.md (also after each phase: a later failure keeps the rest)."""
    res.setdefault("loadavg_end", os.getloadavg())
    res.setdefault("duration_s", 0.0)
    md = markdown(res)
    (out / "results.json").write_text(json.dumps(res, indent=1))
    (out / "results.md").write_text(md)
    return md


def main():
    ap = argparse.ArgumentParser(description="dicom-fhir benchmark (see the module docstring)")
    ap.add_argument("--instances", type=int, default=10000, help="main dataset size (default 10000)")
    ap.add_argument("--large", action="store_true", help="about 100,000 instances")
    ap.add_argument("--phases", default="core,h2,linearity,postgres,facade")
    ap.add_argument("--clients", type=int, default=CLIENTS)
    ap.add_argument("--linear-size", type=int, default=2000, help="instances of the big study (default 2000)")
    ap.add_argument("--small-studies", type=int, default=25,
                    help="10-instance studies measured before and after the big study (default 25 each)")
    ap.add_argument("--core-instances", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--java-opts", default=os.environ.get("BENCH_JAVA_OPTS", DEFAULT_JAVA_OPTS))
    ap.add_argument("--jar", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=BENCH / "results")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (servers' logs, data)")
    ap.add_argument("--qido-n", type=int, default=200,
                    help="facade: queries per QIDO query type (default 200: the p95 of 40 was the second-slowest request)")
    ap.add_argument("--meta-instances", type=int, default=1000, help="facade: instances of the metadata series")
    ap.add_argument("--frames", type=int, default=400, help="facade: frames per multi-frame instance (512 KiB each)")
    ap.add_argument("--facade-figures", default="stow,qido,metadata,frames,retrieve",
                    help="facade: a subset of stow,qido,metadata,frames,retrieve (qido implies stow)")
    ap.add_argument("--render-n", type=int, default=200,
                    help="render: rendered requests per kind and server (large images get a quarter)")
    ap.add_argument("--render-loop", type=int, default=200,
                    help="render: times each large image is rendered while our server's RSS is watched")
    ap.add_argument("--render-distinct", action="store_true",
                    help="render: every timed request asks for a copy (new SOP Instance UID) not rendered before")
    ap.add_argument("--render-kinds", default="",
                    help="render: a subset of the kinds of bench/render.py KINDS (default all)")
    ap.add_argument("--big-instances", type=int, default=5,
                    help="facade: multi-frame instances in the retrieved study (default 5 x 400 frames ≈ 1 GB)")
    ap.add_argument("--dimse-instances", type=int, default=500, help="dimse: instances per round and peer")
    ap.add_argument("--dimse-rounds", type=int, default=4, help="dimse: alternating rounds")
    ap.add_argument("--served-opts", default="",
                    help="served: JVM option sets for scripts/serve.sh's JAVA_OPTS, separated by ';' "
                         "(default: serve.sh's own); an empty entry is serve.sh's default")
    ap.add_argument("--served-qido-n", type=int, default=300, help="served: queries per QIDO type and round")
    ap.add_argument("--huge-total", type=int, default=1000000, help="huge: instances (whole 50-instance studies)")
    ap.add_argument("--huge-checkpoints", default="10000,100000,1000000",
                    help="huge: instance counts at which QIDO and sizes are measured (and at the end)")
    ap.add_argument("--huge-orthanc-budget-s", type=float, default=4 * 3600,
                    help="huge: Orthanc gets the same blocks until its STOW time passes this (seconds)")
    ap.add_argument("--huge-no-orthanc", action="store_true", help="huge: our server alone")
    ap.add_argument("--huge-qido-n", type=int, default=100, help="huge: queries per QIDO type at each checkpoint")
    ap.add_argument("--huge-qido-scan-n", type=int, default=10,
                    help="huge: queries of the types that read every series (series?Modality&limit, series?StationName)")
    ap.add_argument("--huge-work", type=Path, default=Path("/var/tmp/dicomfhir-huge"),
                    help="huge: PostgreSQL, Binary store, Orthanc and progress.json; a run that stopped resumes from it")
    ap.add_argument("--huge-restart", action="store_true", help="huge: delete --huge-work first (start from zero)")
    ap.add_argument("--huge-keep", action="store_true", help="huge: keep --huge-work after a finished run")
    a = ap.parse_args()
    if a.large:
        a.instances = 100000
    phases = set(a.phases.split(","))
    orthanc_phases = {"facade", "dimse", "render", "served"} | (set() if a.huge_no_orthanc else {"huge"})
    if phases & orthanc_phases and not in_private_netns():
        # Orthanc listens on every interface: the whole run goes into a loopback-only namespace.
        if os.geteuid() != 0:
            sys.exit("bench: the facade, dimse, render, served and huge phases run Orthanc in a private network namespace: "
                     "run as root (or leave them out of --phases; huge: --huge-no-orthanc)")
        log("facade/dimse/render: re-running inside a loopback-only network namespace (scripts/orthanc.sh ns)")
        subprocess.check_call([str(ROOT / "scripts" / "orthanc.sh"), "install"])
        os.execv(str(ROOT / "scripts" / "orthanc.sh"),
                 [str(ROOT / "scripts" / "orthanc.sh"), "ns", sys.executable, __file__, *sys.argv[1:]])
    t_start = time.time()
    a.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dicomfhir-bench-", dir="/tmp"))
    os.chmod(work, 0o755)  # PostgreSQL runs as the postgres user when we are root
    log(f"work directory {work}")

    global TEMPLATES, WARM_STUDY_UIDS
    TEMPLATES = gd.load_templates()
    studies_n, series_n, per_series = gd.shape(a.instances)
    studies = gd.plan(studies_n, series_n, per_series, seed=a.seed)
    warm_studies = gd.plan(max(1, WARMUP // 50), 5, 10, seed=a.seed, tag="warm")
    WARM_STUDY_UIDS = [s.uid for s in warm_studies]
    res = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(["python3", "bench/run.py", *sys.argv[1:]]),
           "phases": ",".join(sorted(phases))}
    items, warm = [], []
    if phases & DATASET_PHASES:
        log(f"dataset: {studies_n} studies × {series_n} series × {per_series} instances")
        t = time.time()
        items = dataset_bytes(studies)
        warm = dataset_bytes(warm_studies)
        log(f"dataset: {len(items)} instances, {sum(map(len, items)) / 1e6:.0f} MB, generated in {time.time() - t:.0f}s")
        res["dataset"] = {"instances": len(items), "studies": studies_n, "series": series_n, "per_series": per_series,
                          "seed": a.seed, "bytes_per_instance": sum(map(len, items)) // len(items)}
    jar = a.jar
    if jar is None:
        jars = list((ROOT / "examples" / "target").glob("dicom-fhir-example-server-*.jar"))
        jar = max(jars, key=lambda p: p.stat().st_mtime) if jars else None
    res["machine"] = machine(a.java_opts, jar)
    servers: list[Server] = []
    pg = None
    try:
        if "core" in phases:
            res["core"] = phase_core(work, items, a.core_instances)
            log(f"core: {json.dumps(res['core']['ratios'])}")
            save(res, a.out)
        need_servers = phases & {"h2", "linearity", "postgres", "facade", "smart", "dimse", "render", "huge"}
        app = prepare_app(work, jar) if need_servers else None
        if phases & {"h2", "linearity"}:
            plugin = Server("h2-plugin", app, work, True, a.java_opts)
            plain = Server("h2-plain", app, work, False, a.java_opts) if "h2" in phases else None
            servers += [s for s in (plugin, plain) if s]
            start_all([s for s in (plugin, plain) if s])
            if plain:
                res["h2"] = phase_ingest("h2", plugin, plain, warm, items, studies, a.clients)
                log(f"h2: ratio {res['h2']['ratio_inst_per_s']} checks_ok={res['h2']['checks_ok']}")
                save(res, a.out)
                plain.stop()
            if "linearity" in phases:
                if not plain:
                    upload(plugin.base, warm, a.clients)
                res["linearity"] = phase_linearity(plugin, a.linear_size, a.small_studies)
                plot_linearity(res["linearity"], a.out / "linearity.png")
                save(res, a.out)
            plugin.stop()
        if "postgres" in phases:
            pg, urls = start_postgres(work, ["bench_plugin", "bench_plain"])
            res["postgres_server"] = pg
            res["postgres_version"] = pg["version"]
            plugin = Server("pg-plugin", app, work, True, a.java_opts, pg=urls[0])
            plain = Server("pg-plain", app, work, False, a.java_opts, pg=urls[1])
            servers += [plugin, plain]
            start_all([plugin, plain])
            res["postgres"] = phase_ingest("postgres", plugin, plain, warm, items, studies, a.clients)
            res["postgres"]["version"] = pg["version"]
            log(f"postgres: ratio {res['postgres']['ratio_inst_per_s']} checks_ok={res['postgres']['checks_ok']}")
            save(res, a.out)
            plugin.stop()
            plain.stop()
        if "facade" in phases:
            res["facade"] = phase_facade(app, work, warm, items, studies, a)
            save(res, a.out)
        if "dimse" in phases:
            import dimse
            res["dimse"] = dimse.phase(app, work, a.dimse_instances, a.dimse_rounds, a.java_opts)
            save(res, a.out)
        if "smart" in phases:
            import smart
            make = lambda name, extra: Server(name, app, work, True, a.java_opts, extra=extra)  # noqa: E731
            res["smart"] = smart.run(ROOT, work, make, warm, items, studies, a.clients, a.seed, a.qido_n, free_port())
            log(f"smart: tokens fetched {res['smart']['tokens_fetched']}, bar met: {res['smart']['met']}")
            save(res, a.out)
        if "render" in phases:
            res["render"] = phase_render(app, work, a)
            save(res, a.out)
        if "served" in phases:
            import served
            res["served"] = served.phase(ROOT, work, a.served_opts.split(";") if a.served_opts else [""],
                                         a.clients, a.served_qido_n, a.seed, TEMPLATES)
            save(res, a.out)
        if "huge" in phases:
            import huge
            make = lambda name, app_, work_, url: Server(name, app_, work_, True, a.java_opts, pg=url)  # noqa: E731
            res["huge"] = huge.run(ROOT, a, app, make, start_postgres, stop_postgres, a.out,
                                   lambda h: (res.__setitem__("huge", h), save(res, a.out)))
            res["postgres_version"] = res["huge"].get("postgres_version")
            save(res, a.out)
        res["loadavg_end"] = os.getloadavg()
        res["duration_s"] = time.time() - t_start
        save(res, a.out)
    finally:
        for s in servers:
            s.stop()
        stop_postgres(pg)
        if not a.keep:
            log(f"removing {work} (the binary stores' many small directories take a while)")
            shutil.rmtree(work, ignore_errors=True)
    md = markdown(res)
    print()
    print(md)
    log(f"wrote {a.out / 'results.json'}, {a.out / 'results.md'}"
        + (f", {a.out / 'linearity.png'}" if "linearity" in res else ""))

TEMPLATES: dict = {}
WARM_STUDY_UIDS: list[str] = []

if __name__ == "__main__":
    main()
