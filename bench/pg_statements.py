"""The SQL statements PostgreSQL receives per upload, with the plugin and without it.

    python3 bench/pg_statements.py [--instances 500]      # as root (PostgreSQL runs as its own user)

Starts a private PostgreSQL (scripts/postgres.sh) and the example server twice on it (plugin and
plain HAPI, as bench/run.py's postgres phase does), warms both up, waits until both are idle, then
logs every statement (`log_statement = all`) while the same instances (10 studies × 5 series × 10)
are POSTed to each, and prints each server's statements per upload, most frequent first. Needs
what bench/run.py needs (built server jar, test corpus, target/bench-venv).
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import run as bench  # bench/run.py: servers, client, dataset
import gen_dataset as gd
from common import settle


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=500)
    ap.add_argument("--top", type=int, default=25, help="statements shown per server")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("pg_statements: run as root (scripts/postgres.sh runs the cluster as the postgres user)")
    work = Path(tempfile.mkdtemp(prefix="dicomfhir-pgstatements-", dir="/tmp"))
    os.chmod(work, 0o755)
    bench.TEMPLATES = gd.load_templates()
    items = bench.dataset_bytes(gd.plan(max(1, a.instances // 50), 5, 10, seed=7))[:a.instances]
    warm = bench.dataset_bytes(gd.plan(6, 5, 10, seed=7, tag="warm"))
    app = bench.prepare_app(work, None)
    pg, urls = bench.start_postgres(work, ["bench_plugin", "bench_plain"])
    servers = [bench.Server("pg-plugin", app, work, True, bench.DEFAULT_JAVA_OPTS, pg=urls[0]),
               bench.Server("pg-plain", app, work, False, bench.DEFAULT_JAVA_OPTS, pg=urls[1])]

    def psql(sql: str):
        subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-h", str(Path(pg["dir"]) / "socket"),
                        "-p", str(pg["port"]), "-U", "postgres", "-d", "postgres", "-c", sql],
                       check=True, stdout=subprocess.DEVNULL)
    try:
        bench.start_all(servers)
        for s in servers:
            bench.upload(s.base, warm, 4)
        settle([s.proc.pid for s in servers])
        log = Path(pg["dir"]) / "postgres.log"
        start = log.stat().st_size
        psql("ALTER SYSTEM SET log_statement = 'all'")
        psql("ALTER SYSTEM SET log_line_prefix = '@@%d@@ '")
        psql("SELECT pg_reload_conf()")
        time.sleep(1)
        for s in servers:
            r = bench.upload(s.base, items, 4)
            bad = collections.Counter(x for x in r["status"] if x != 201)
            if bad:
                raise RuntimeError(f"{s.name}: statuses {bad}")
        settle([s.proc.pid for s in servers])  # the study writes after the last upload
        psql("ALTER SYSTEM SET log_statement = 'none'")
        psql("SELECT pg_reload_conf()")
        text = log.read_bytes()[start:].decode(errors="replace")
    finally:
        for s in servers:
            s.stop()
        bench.stop_postgres(pg)
    per = {"bench_plugin": collections.Counter(), "bench_plain": collections.Counter()}
    for m in re.finditer(r"@@(\w+)@@ LOG:  (?:statement|execute [^:]*): (.*)", text):
        if m.group(1) in per:
            sql = re.sub(r"\$\d+", "?", m.group(2))
            per[m.group(1)][re.sub(r"\b\d+\b", "N", sql)[:150]] += 1
    n = len(items)
    for db, label in (("bench_plugin", "with the plugin"), ("bench_plain", "plain HAPI")):
        c = per[db]
        print(f"\n{label}: {sum(c.values()) / n:.2f} statements per upload ({n} uploads)")
        for sql, k in c.most_common(a.top):
            print(f"{k / n:7.3f}  {sql}")
    print(f"\n(work directory {work}: server logs; remove it when done)")


if __name__ == "__main__":
    main()
