"""The `huge` phase of bench/run.py (issue 18): a million instances into the example server on
PostgreSQL, next to Orthanc + DICOMweb while it fits a time budget.

    python3 bench/run.py --phases huge --huge-total 1000000 --huge-checkpoints 10000,100000,1000000

Data: studies of 5 series × 10 instances made one by one from their index (gen_dataset.study_at:
an archive filled in time order, so each query's answer keeps its size as the store grows), rendered
from the corpus' CT/MR templates cut to an 8 × 8 image (tiny_templates, about 1.8 KB an instance). One block (1 % of the total, whole studies) at a time is generated, while the block
before it uploads; nothing else is held in memory or written to disk by the client.

Ingest: each block goes by STOW-RS (bench/facade.py: 50 instances per request, `clients` threads)
to our server, then, while Orthanc's time so far is within --huge-orthanc-budget-s, the same bytes
to Orthanc. After our STOW a `_summary=count` read waits for the server's deferred study writes, so
a block's time includes them.

Checkpoints (--huge-checkpoints, rounded up to a block end): QIDO p95 of every query type of
bench/facade.py (figure_qido, the same client, Orthanc too when it has the same instances),
database bytes (pg_database_size, the biggest tables with indexes and TOAST) and blob bytes (files
under the Binary store: apparent and allocated) per instance, Orthanc's storage + SQLite index.

Restartable: the PostgreSQL cluster, our server's data directory (Binary store), Orthanc's
directory and progress.json live in --huge-work (default /var/tmp/dicomfhir-huge, kept across
reboots). A run that stops (crash, ^C, reboot) is resumed by the same command: it restarts the
servers on the same data and continues after the last block progress.json records as done (a block
cut short is sent again: STOW-RS of the same bytes is idempotent on both servers). Blocks carry the
number of the session that timed them, so a restart's cold JVM is visible in the rate table. A
finished run deletes the directory unless --huge-keep; --huge-restart deletes it before starting.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path

import common
import facade
import gen_dataset as gd
from common import met, row, settle

SERIES, PER_SERIES = 5, 10
PER_STUDY = SERIES * PER_SERIES
TAG = "huge"
WARM_STUDIES = 6  # 300 instances of other studies before each session's first timed block
QUERY_STUDIES = 2000  # studies drawn from the stored ones to make each checkpoint's QIDO queries
# Query types that read every series of the store (no index narrows them): linear in its size, some
# 2.5 s a query at 20,000 instances on a loaded machine, so about 2 minutes at 1,000,000. They get
# --huge-qido-scan-n queries (and 2 untimed) instead of --huge-qido-n (and facade.QIDO_WARMUP).
SCAN_TYPES = ("series?Modality&limit", "series?StationName")
SCAN_WARMUP = 2
# Queries whose answer keeps its size as the store grows (gen_dataset.study_at): the whole surname
# (four patients share one), two days (gen_dataset.STUDIES_PER_DAY studies a day), a station's
# series, and a page of 100 series of a modality (OHIF's study list asks for pages: limit=101).
# The 3-letter prefixes, 60-day ranges, 40 stations and 1,000-series pages of bench/facade.py
# match a fixed share of the store: 10 x the instances was 10 x the answer on both servers (the
# seventh pass's run to 880,000).
ANSWER_KEPT = {"prefix_len": None, "date_span_days": 1, "series_limit": 100}


def log(msg: str):
    common.log(msg, "huge: ")


# --------------------------------------------------------------------------------------------
# sizes


def du(path: Path) -> dict:
    """Files, apparent bytes and allocated bytes (st_blocks) under path."""
    files = apparent = allocated = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            elif e.is_file(follow_symlinks=False):
                st = e.stat(follow_symlinks=False)
                files += 1
                apparent += st.st_size
                allocated += st.st_blocks * 512
    return {"files": files, "bytes": apparent, "allocated_bytes": allocated}


def psql(pg: dict, sql: str) -> list[list[str]]:
    out = subprocess.run(["psql", "-X", "-q", "-tA", "-F", "\t", "-h", "127.0.0.1", "-p", str(pg["port"]),
                          "-U", pg["user"], "-d", pg["db"], "-c", sql],
                         env={**os.environ, "PGPASSWORD": pg["password"]}, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr.strip()[:300]}")
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def db_sizes(pg: dict) -> dict:
    total = int(psql(pg, "SELECT pg_database_size(current_database())")[0][0])
    tables = psql(pg, "SELECT c.relname, pg_total_relation_size(c.oid), c.reltuples::bigint FROM pg_class c "
                      "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' "
                      "ORDER BY 2 DESC LIMIT 8")
    return {"database_bytes": total,
            "tables": [{"table": t, "bytes": int(b), "rows_estimate": int(r)} for t, b, r in tables]}


def sizes(server_dir: Path, pg: dict, orthanc_dir: Path | None, ours_n: int, orthanc_n: int) -> dict:
    out = {"ours": {**db_sizes(pg), "blobs": du(server_dir / "data" / "binstore")}}
    o = out["ours"]
    o["db_bytes_per_instance"] = round(o["database_bytes"] / ours_n)
    o["blob_bytes_per_instance"] = round(o["blobs"]["bytes"] / ours_n)
    o["blob_allocated_per_instance"] = round(o["blobs"]["allocated_bytes"] / ours_n)
    if orthanc_dir is not None and orthanc_n:
        st, ix = du(orthanc_dir / "storage"), du(orthanc_dir / "index")
        out["orthanc"] = {"storage": st, "index": ix,
                          "index_bytes_per_instance": round(ix["bytes"] / orthanc_n),
                          "blob_bytes_per_instance": round(st["bytes"] / orthanc_n),
                          "blob_allocated_per_instance": round(st["allocated_bytes"] / orthanc_n)}
    return out


# --------------------------------------------------------------------------------------------
# progress


class Progress:
    """progress.json in the work directory: the run's settings, the blocks timed, the checkpoints."""

    def __init__(self, path: Path, settings: dict):
        self.path = path
        if path.exists():
            self.d = json.loads(path.read_text())
            if self.d["settings"] != settings:
                raise SystemExit(f"huge: {path} is a run with other settings ({self.d['settings']}); "
                                 "use the same options to resume it, or --huge-restart to start over")
            self.d["sessions"] += 1
        else:
            self.d = {"settings": settings, "sessions": 1, "done": 0, "orthanc_done": 0, "orthanc_seconds": 0.0,
                      "orthanc_stopped_at": None, "blocks": [], "checkpoints": []}

    def __getitem__(self, k):
        return self.d[k]

    def __setitem__(self, k, v):
        self.d[k] = v

    def save(self):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.d, indent=1))
        os.replace(tmp, self.path)


# --------------------------------------------------------------------------------------------


def block_items(block: int, studies_per_block: int, studies_total: int, templates: dict, seed: int) -> list[bytes]:
    """The instances of block `block` (the last block may be short)."""
    studies = [gd.study_at(s, SERIES, PER_SERIES, seed, TAG)
               for s in range(block * studies_per_block, min(studies_total, (block + 1) * studies_per_block))]
    return [d for _, d in gd.render(studies, templates)]


class Prefetch:
    """Generates block k + 1 in a thread while block k uploads."""

    def __init__(self, fn):
        self.fn, self.thread, self.result, self.key = fn, None, None, None

    def start(self, key):
        self.key, self.result = key, None
        self.thread = threading.Thread(target=lambda: setattr(self, "result", self.fn(key)), daemon=True)
        self.thread.start()

    def get(self, key):
        if self.key != key:
            self.start(key)
        self.thread.join()
        self.key = None
        return self.result


def wait_studies(fhir_base: str) -> int:
    """A read: it waits for the server's deferred study writes. Returns the ImagingStudy count."""
    r = common.session().get(f"{fhir_base}/ImagingStudy", params={"_summary": "count"},
                             headers={"Accept": "application/fhir+json"}, timeout=1800)
    r.raise_for_status()
    return r.json()["total"]


def stow_block(base: str, items: list[bytes], clients: int) -> dict:
    r = facade.stow(base, items, clients)
    return {"n": r["n"], "wall": r["wall"], "lat": r["lat"],
            "errors": len(r["errors"]) + sum(s != 200 for s in r["status"]), "error_sample": r["errors"][:1]}


def qido(peers: dict, stored_studies: int, n: int, scan_n: int, seed: int) -> dict:
    """figure_qido over a sample of the stored studies; the ratios only when Orthanc is a peer."""
    rng = random.Random(f"{seed}/huge-qido/{stored_studies}")
    sample = [gd.study_at(rng.randrange(stored_studies), SERIES, PER_SERIES, seed, TAG)
              for _ in range(min(QUERY_STUDIES, stored_studies))]
    queries = facade.qido_queries(sample, n, seed, **ANSWER_KEPT)
    warm = facade.qido_queries(sample, facade.QIDO_WARMUP, f"{seed}/warm-up", **ANSWER_KEPT)
    for kind in SCAN_TYPES:
        queries[kind], warm[kind] = queries[kind][:scan_n], warm[kind][:SCAN_WARMUP]
    if "orthanc" in peers:
        return facade.figure_qido(peers, queries, warm)
    out = facade.figure_qido(peers, queries, warm, a="ours", b="ours")
    for v in out.values():
        for k in ("ratio_p95", "ratio_median", "count_mismatches"):
            v.pop(k, None)
    return out


def rate_summary(blocks: list[dict], who: str) -> dict | None:
    rows = [b for b in blocks if who in b]
    if len(rows) < 2:
        return None
    k = max(1, len(rows) // 10)
    rate = lambda bs: sum(b[who]["n"] for b in bs) / sum(b[who]["wall"] for b in bs)  # noqa: E731
    first, last = rate(rows[:k]), rate(rows[-k:])
    return {"blocks": len(rows), "blocks_per_tenth": k, "instances": sum(b[who]["n"] for b in rows),
            "seconds": round(sum(b[who]["wall"] for b in rows), 1), "inst_per_s": round(rate(rows), 1),
            "first_10pct_inst_per_s": round(first, 1), "last_10pct_inst_per_s": round(last, 1),
            "last_over_first": round(last / first, 3),
            "min_block_inst_per_s": round(min(b[who]["n"] / b[who]["wall"] for b in rows), 1),
            "max_block_inst_per_s": round(max(b[who]["n"] / b[who]["wall"] for b in rows), 1)}


def write_rate_csv(blocks: list[dict], path: Path):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["block", "instances_after", "session", "ours_inst_per_s", "ours_p95_ms", "ours_errors",
                    "orthanc_inst_per_s", "orthanc_p95_ms", "orthanc_errors"])
        for b in blocks:
            o, t = b["ours"], b.get("orthanc")
            w.writerow([b["block"], b["instances_after"], b["session"], round(o["n"] / o["wall"], 1), o["p95_ms"],
                        o["errors"], round(t["n"] / t["wall"], 1) if t else "", t["p95_ms"] if t else "",
                        t["errors"] if t else ""])


def write_files(res: dict, prog: Progress, out: Path):
    write_rate_csv(prog["blocks"], out / "huge-rate.csv")
    (out / "huge.md").write_text("\n".join(markdown(res)) + "\n")


def stop_leftovers(root: Path, work: Path, stop_postgres):
    """After a driver that died without its `finally` (SIGKILL, a reboot is harmless): the servers it
    started on this work directory still run, in a network namespace nobody can reach any more.
    Stops each by the pid it recorded: PostgreSQL (postgres.sh stop), Orthanc (orthanc.sh stop), our
    server (server.pid, only if its command line names this work directory)."""
    if (work / "pg" / "data" / "postmaster.pid").exists():
        log("stopping the PostgreSQL a stopped run left running")
        stop_postgres({"dir": str(work / "pg")})
    if (work / "orthanc" / "orthanc.pid").exists():
        subprocess.run([str(root / "scripts" / "orthanc.sh"), "stop", str(work / "orthanc")])
    pidfile = work / "huge-ours" / "server.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text())
        try:
            if str(work).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                log(f"stopping our server (pid {pid}) that a stopped run left running")
                os.kill(pid, 15)
                for _ in range(120):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.5)
        except (FileNotFoundError, ProcessLookupError):
            pass
        pidfile.unlink()


def run(root: Path, a, app: Path, make_server, start_postgres, stop_postgres, out: Path, on_progress) -> dict:
    """a: bench/run.py's arguments. make_server(name, app, work, pg_url) -> run.Server;
    start_postgres(work, dbs) / stop_postgres(info): run.py's. on_progress(res): saves the report."""
    total = a.huge_total // PER_STUDY * PER_STUDY
    if total < PER_STUDY:
        raise SystemExit(f"huge: --huge-total must be at least one study ({PER_STUDY} instances)")
    studies_total = total // PER_STUDY
    per_block = max(1, studies_total // 100)
    blocks = -(-studies_total // per_block)
    checkpoints = sorted({min(total, int(c)) for c in a.huge_checkpoints.split(",") if c} | {total})
    settings = {"total": total, "seed": a.seed, "studies_per_block": per_block, "clients": a.clients,
                "orthanc": not a.huge_no_orthanc, "orthanc_budget_s": a.huge_orthanc_budget_s,
                "qido_n": a.huge_qido_n, "qido_scan_n": a.huge_qido_scan_n, "checkpoints": checkpoints, "java_opts": a.java_opts}
    work = a.huge_work.resolve()
    if work.exists():
        stop_leftovers(root, work, stop_postgres)
    if a.huge_restart and work.exists():
        log(f"--huge-restart: removing {work}")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)  # PostgreSQL runs as the postgres user when we are root
    prog = Progress(work / "progress.json", settings)
    prog.save()
    log(f"{total} instances ({studies_total} studies × {SERIES} × {PER_SERIES}), {blocks} blocks of "
        f"{per_block * PER_STUDY}, checkpoints {checkpoints}; work {work}, session {prog['sessions']}, "
        f"{prog['done']} instances already done")
    templates = gd.tiny_templates(gd.load_templates())
    res = {"settings": settings, "work": str(work)}
    pg = server = orthanc = None
    try:
        pg, urls = start_postgres(work, ["bench_huge"])
        pg_conn = {"port": pg["port"], "user": urls[0]["user"], "password": urls[0]["password"], "db": "bench_huge"}
        res["postgres_version"] = pg["version"]
        server = make_server("huge-ours", app, work, urls[0])
        server.start()
        (work / "huge-ours" / "server.pid").write_text(str(server.proc.pid))
        server.wait()
        peers = {"ours": f"{server.base}/dicomweb"}
        pids = [server.proc.pid]
        orthanc_on = settings["orthanc"] and prog["orthanc_stopped_at"] is None
        if settings["orthanc"]:
            orthanc = facade.Orthanc(root, work).start()
            res["orthanc_version"] = orthanc.version
            if orthanc_on:
                peers["orthanc"] = orthanc.base
            pids.append(orthanc.pid)
        warm = [d for _, d in gd.render([gd.study_at(s, SERIES, PER_SERIES, a.seed, "hugewarm")
                                          for s in range(WARM_STUDIES)], templates)]
        for n, base in peers.items():
            w = stow_block(base, warm, a.clients)
            if w["errors"]:
                raise RuntimeError(f"{n}: warm-up STOW failed: {w['error_sample']}")
        wait_studies(server.base)
        gen = Prefetch(lambda b: block_items(b, per_block, studies_total, templates, a.seed))
        first = prog["done"] // (per_block * PER_STUDY)
        for b in range(first, blocks):
            items = gen.get(b)
            if b + 1 < blocks:
                gen.start(b + 1)
            rec = {"block": b, "session": prog["sessions"], "started": round(time.time(), 1)}
            t0 = time.perf_counter()
            r = stow_block(peers["ours"], items, a.clients)
            stored = wait_studies(server.base)
            r["wall"] = time.perf_counter() - t0
            rec["ours"] = {"n": r["n"], "wall": round(r["wall"], 3), "p95_ms": round(common.pct(r["lat"], 0.95) * 1000, 1),
                           "errors": r["errors"]}
            if r["errors"]:
                log(f"block {b}: ours {r['errors']} errors: {r['error_sample']}")
            if "orthanc" in peers:
                t = stow_block(peers["orthanc"], items, a.clients)
                rec["orthanc"] = {"n": t["n"], "wall": round(t["wall"], 3),
                                  "p95_ms": round(common.pct(t["lat"], 0.95) * 1000, 1), "errors": t["errors"]}
                prog["orthanc_seconds"] += t["wall"]
                prog["orthanc_done"] += t["n"]
            done = min(total, (b + 1) * per_block * PER_STUDY)
            rec["instances_after"] = done
            prog["done"] = done
            prog["blocks"].append(rec)
            log(f"block {b + 1}/{blocks}: {done} instances; ours {r['n'] / r['wall']:.0f}/s"
                + (f", Orthanc {rec['orthanc']['n'] / rec['orthanc']['wall']:.0f}/s" if "orthanc" in rec else "")
                + f"; {stored} studies")
            if "orthanc" in peers and prog["orthanc_seconds"] > a.huge_orthanc_budget_s:
                log(f"Orthanc over its budget ({prog['orthanc_seconds']:.0f} s > {a.huge_orthanc_budget_s} s) "
                    f"at {prog['orthanc_done']} instances: ours alone from here")
                prog["orthanc_stopped_at"] = prog["orthanc_done"]
                del peers["orthanc"]
            done_cps = {c["checkpoint"] for c in prog["checkpoints"]}
            for cp in checkpoints:
                if cp <= done and cp not in done_cps:
                    prog["checkpoints"].append(checkpoint(cp, done, peers, pids, server, pg_conn, orthanc, prog, a,
                                                          stored))
            prog.save()
            res.update(report(prog))
            write_files(res, prog, out)
            on_progress(res)
        res.update(report(prog))
        write_files(res, prog, out)
        res["finished"] = True
    finally:
        if server:
            server.stop()
            (work / "huge-ours" / "server.pid").unlink(missing_ok=True)
        if orthanc:
            orthanc.stop()
        stop_postgres(pg)
    if res.get("finished") and not a.huge_keep:
        log(f"finished: removing {work} (--huge-keep keeps it)")
        shutil.rmtree(work, ignore_errors=True)
    return res


def checkpoint(cp, done, peers, pids, server, pg_conn, orthanc, prog, a, stored) -> dict:
    log(f"checkpoint {cp} (at {done} instances): settle, QIDO, sizes")
    expected = done // PER_STUDY + WARM_STUDIES
    c = {"checkpoint": cp, "instances": done, "session": prog["sessions"],
         "studies": stored, "expected_studies": expected,
         "orthanc_instances": prog["orthanc_done"] if "orthanc" in peers else None}
    c["settle_s"] = settle(pids)
    c["qido"] = qido(peers, done // PER_STUDY, a.huge_qido_n, a.huge_qido_scan_n, a.seed)
    c["sizes"] = sizes(server.dir, pg_conn, orthanc.dir if orthanc and "orthanc" in peers else None,
                       done + WARM_STUDIES * PER_STUDY, prog["orthanc_done"] + WARM_STUDIES * PER_STUDY)
    s = c["sizes"]["ours"]
    log(f"checkpoint {cp}: database {s['database_bytes'] / 2**20:.0f} MiB ({s['db_bytes_per_instance']} B/instance), "
        f"blobs {s['blobs']['bytes'] / 2**20:.0f} MiB apparent, {s['blobs']['allocated_bytes'] / 2**20:.0f} MiB on disk")
    return c


def report(prog: Progress) -> dict:
    cps = prog["checkpoints"]
    out = {"sessions": prog["sessions"], "done": prog["done"], "orthanc_done": prog["orthanc_done"],
           "orthanc_seconds": round(prog["orthanc_seconds"], 1), "orthanc_stopped_at": prog["orthanc_stopped_at"],
           "rate": {"ours": rate_summary(prog["blocks"], "ours"), "orthanc": rate_summary(prog["blocks"], "orthanc")},
           "blocks": prog["blocks"], "checkpoints": cps}
    for prev, c in zip(cps, cps[1:]):
        # What one more instance costs between two checkpoints (the schema's fixed size left out).
        n = c["instances"] - prev["instances"]
        a, b = prev["sizes"]["ours"], c["sizes"]["ours"]
        c["marginal"] = {"db_bytes_per_instance": round((b["database_bytes"] - a["database_bytes"]) / n),
                         "blob_allocated_per_instance": round((b["blobs"]["allocated_bytes"] - a["blobs"]["allocated_bytes"]) / n)}
        if "orthanc" in prev["sizes"] and "orthanc" in c["sizes"]:
            a, b = prev["sizes"]["orthanc"], c["sizes"]["orthanc"]
            c["marginal"]["orthanc_allocated_per_instance"] = round(
                (b["index"]["allocated_bytes"] + b["storage"]["allocated_bytes"]
                 - a["index"]["allocated_bytes"] - a["storage"]["allocated_bytes"]) / n)
    if len(cps) >= 2:
        base, top = cps[0], cps[-1]
        out["qido_growth"] = {kind: {"first_p95_ms": base["qido"][kind]["ours"]["p95_ms"],
                                     "last_p95_ms": top["qido"][kind]["ours"]["p95_ms"],
                                     "ratio": round(top["qido"][kind]["ours"]["p95_ms"] / base["qido"][kind]["ours"]["p95_ms"], 3)}
                              for kind in facade.FIGURE_ORDER if kind in base["qido"] and kind in top["qido"]}
        out["qido_growth_from"], out["qido_growth_to"] = base["instances"], top["instances"]
    return out


# --------------------------------------------------------------------------------------------
# report


def markdown_rows(h: dict) -> list[str]:
    """Rows of bench/run.py's table: figure | ours | reference | ratio | bar | met."""
    L = []
    r, t = h["rate"]["ours"], h["rate"].get("orthanc")
    if r:
        L.append(row(f"Huge ({h['done']} instances, PostgreSQL): STOW-RS instances/s, last 10 % ÷ first 10 %",
                     f"{r['last_10pct_inst_per_s']} / {r['first_10pct_inst_per_s']}",
                     f"{t['last_10pct_inst_per_s']} / {t['first_10pct_inst_per_s']} (Orthanc, {t['instances']} instances)"
                     if t else "—", r["last_over_first"], "≥ 0.8", met(r["last_over_first"] >= 0.8)))
    g = h.get("qido_growth")
    if g:
        for kind, v in g.items():
            L.append(row(f"Huge: QIDO {kind} p95 at {h['qido_growth_to']} ÷ at {h['qido_growth_from']} (ms)",
                         f"{v['last_p95_ms']} / {v['first_p95_ms']}", "", v["ratio"], "≤ 1.5", met(v["ratio"] <= 1.5)))
    for c in h["checkpoints"]:
        s = c["sizes"]["ours"]
        o = c["sizes"].get("orthanc")
        L.append(row(f"Huge at {c['instances']}: bytes per instance, database / blobs (on disk)",
                     f"{s['db_bytes_per_instance']} / {s['blob_bytes_per_instance']} ({s['blob_allocated_per_instance']})",
                     f"{o['index_bytes_per_instance']} / {o['blob_bytes_per_instance']} ({o['blob_allocated_per_instance']}) "
                     "(Orthanc: SQLite index / storage)" if o else "—", "", "report", "—"))
    return L


def markdown(res: dict) -> list[str]:
    """huge.md: the settings, the bars, the checkpoints side by side, the rate per block."""
    s = res["settings"]
    L = [f"# Huge: {res['done']} of {s['total']} instances on PostgreSQL", "",
         f"{res['sessions']} session(s); {s['clients']} clients, STOW-RS 50 instances per request; "
         f"{res.get('postgres_version', '')}; {res.get('orthanc_version', 'Orthanc not run')}"
         + (f", stopped at {res['orthanc_stopped_at']} instances (budget {s['orthanc_budget_s']} s)"
            if res.get("orthanc_stopped_at") else "") + ".", "",
         "| figure | ours | reference | ratio | bar | met |", "|---|---|---|---|---|---|", *markdown_rows(res), ""]
    kinds = facade.FIGURE_ORDER
    L.append("## QIDO p95 (ms) at each checkpoint (ours / Orthanc)")
    L.append("")
    L.append("| query | " + " | ".join(str(c["instances"]) for c in res["checkpoints"]) + " |")
    L.append("|---|" + "---|" * len(res["checkpoints"]))
    for kind in kinds:
        cells = []
        for c in res["checkpoints"]:
            q = c["qido"].get(kind)
            if not q:
                cells.append("—")
                continue
            cells.append(f"{q['ours']['p95_ms']}" + (f" / {q['orthanc']['p95_ms']}" if "orthanc" in q else ""))
        L.append(f"| {kind} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("## Sizes at each checkpoint")
    L.append("")
    L.append("| instances | PostgreSQL (MiB) | B/instance | blobs apparent / on disk (MiB) | biggest tables (MiB) | "
             "Orthanc index / storage on disk (MiB) | since the previous row, B/instance: PostgreSQL / blobs on disk / Orthanc on disk |")
    L.append("|---|---|---|---|---|---|---|")
    for c in res["checkpoints"]:
        s = c["sizes"]["ours"]
        o = c["sizes"].get("orthanc")
        mib = lambda x: f"{x / 2**20:.0f}"  # noqa: E731
        tables = ", ".join(f"{t['table']} {mib(t['bytes'])}" for t in s["tables"][:4])
        L.append(f"| {c['instances']} | {mib(s['database_bytes'])} | {s['db_bytes_per_instance']} | "
                 f"{mib(s['blobs']['bytes'])} / {mib(s['blobs']['allocated_bytes'])} | {tables} | "
                 + (f"{mib(o['index']['allocated_bytes'])} / {mib(o['storage']['allocated_bytes'])}" if o else "—") + " | "
                 + (" / ".join(str(c["marginal"].get(k, "—")) for k in
                               ("db_bytes_per_instance", "blob_allocated_per_instance", "orthanc_allocated_per_instance"))
                    if "marginal" in c else "—") + " |")
    L.append("")
    L.append("## Ingest rate per block (instances/s)")
    L.append("")
    L.append("| block | instances after | session | ours | Orthanc |")
    L.append("|---|---|---|---|---|")
    for b in res["blocks"]:
        o, t = b["ours"], b.get("orthanc")
        L.append(f"| {b['block'] + 1} | {b['instances_after']} | {b['session']} | {o['n'] / o['wall']:.0f} | "
                 + (f"{t['n'] / t['wall']:.0f}" if t else "—") + " |")
    return L
