#!/usr/bin/env python3
"""The QIDO attribute index's candidate query at a million instances, on a scratch PostgreSQL.

What it shows (docs/architecture.md, "Completeness without a ledger scan"): the statement
`AttributeIndex.candidatesSql` runs for an indexed key, before (its completeness half read the
whole ledger: `DFH_INSTANCE WHERE INDEX_SET IS NULL OR INDEX_SET NOT IN (...)`) and after (index
lookups of the set markers of the sets without the tag, in `DFH_INSTANCE_ATTR`), by EXPLAIN ANALYZE, custom and generic
plans (the JDBC driver prepares a statement on the server after 5 runs), and that both name the
same studies.

The rows are loaded straight into the plugin's tables (same DDL as InstanceLedger on PostgreSQL):
`--studies` studies (default 20,000) of 50 instances each (1,000,000 ledger rows), every instance
indexed with the current tag set, each study with 20 indexed values and its set marker, 40
StationNames; plus, as in nearly every real store, a few studies not indexed with StationName:
`--legacy` (default 2) stored before the index (no set) and as many under an earlier set without
it. Cluster: scripts/postgres.sh in a temporary directory, on loopback, removed at the end.

    python3 bench/index_plan.py [--studies 20000] [--legacy 2] [--runs 7] [--keep DIR]

Needs PostgreSQL (scripts/postgres.sh installs it as root) and psql; about a minute.
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CURRENT = "c0ffee0123456789"  # the configured set (16 hex digits, as the core makes them)
OLDER = "0bd0000000000000"   # an earlier set, without StationName
NO_SET = "none"              # InstanceLedger.NO_SET
MARKER = "INDEXSET"          # InstanceLedger.SET_MARKER_TAG
STATION = "00081010"
TAGS = [STATION, "00080070", "00081090", "00180015", "00181030", "00080008", "00200052", "00080080",
        "00081040", "00101010", "00101020", "00101030", "00180050", "00180060", "00201041", "00080022",
        "00080023", "00180010", "00200060", "00185101"]

DDL = f"""
CREATE TABLE DFH_INSTANCE (SOP_INSTANCE_UID VARCHAR(64) NOT NULL PRIMARY KEY,
  STUDY_INSTANCE_UID VARCHAR(64) NOT NULL, BINARY_ID VARCHAR(64) NOT NULL,
  PATIENT_SYSTEM VARCHAR(1024) NOT NULL, PATIENT_VALUE VARCHAR(1024) NOT NULL, STATE VARCHAR(16) NOT NULL,
  CHANGED_MILLIS BIGINT NOT NULL, FAILURE VARCHAR(1000), INDEX_SET VARCHAR(16));
CREATE TABLE DFH_INSTANCE_ATTR (SOP_INSTANCE_UID VARCHAR(64) NOT NULL, STUDY_INSTANCE_UID VARCHAR(64) NOT NULL,
  TAG CHAR(8) NOT NULL, VAL VARCHAR(64) COLLATE "C" NOT NULL,
  PRIMARY KEY (STUDY_INSTANCE_UID, TAG, VAL, SOP_INSTANCE_UID));
CREATE TABLE DFH_INDEX_SET (SET_ID VARCHAR(16) NOT NULL PRIMARY KEY, TAGS VARCHAR(8000) NOT NULL);
"""
INDEXES = """
CREATE INDEX DFH_INSTANCE_STUDY ON DFH_INSTANCE (STUDY_INSTANCE_UID);
CREATE INDEX DFH_INSTANCE_UNFINISHED ON DFH_INSTANCE (STATE, CHANGED_MILLIS) WHERE STATE <> 'LISTED';
CREATE INDEX DFH_INSTANCE_ATTR_VALUE ON DFH_INSTANCE_ATTR (TAG, VAL, STUDY_INSTANCE_UID);
"""


def load_sql(studies: int, legacy: int) -> str:
    # Study n (1-based): UID 1.2.826.0.1.3680043.10.n; the last 2*legacy studies are the old ones:
    # the first half of them without a set, the second under OLDER (without StationName).
    no_set_from = studies - 2 * legacy + 1
    older_from = studies - legacy + 1
    set_of = (f"CASE WHEN s >= {older_from} THEN '{OLDER}' WHEN s >= {no_set_from} THEN NULL"
              f" ELSE '{CURRENT}' END")
    tags = ", ".join(f"'{t}'" for t in TAGS)
    return f"""
INSERT INTO DFH_INDEX_SET VALUES ('{CURRENT}', '{",".join(sorted(TAGS))}'), ('{OLDER}', '00080070'), ('{NO_SET}', '');
INSERT INTO DFH_INSTANCE
  SELECT '1.2.826.0.1.3680043.11.' || s || '.' || i, '1.2.826.0.1.3680043.10.' || s, md5(s || '.' || i) || md5(i || '.' || s),
         'urn:dicom:patient-id', 'P' || (s * 2 / 3), 'LISTED', 1700000000000 + s, NULL, {set_of}
  FROM generate_series(1, {studies}) s, generate_series(1, 50) i;
-- each study's values of the tags its instances' set has (one row per study and value) ...
INSERT INTO DFH_INSTANCE_ATTR
  SELECT '1.2.826.0.1.3680043.11.' || s || '.1', '1.2.826.0.1.3680043.10.' || s, t,
         CASE WHEN t = '{STATION}' THEN 'station' || lpad((s % 40)::text, 2, '0') ELSE lower(t) || '-' || (s % 97) END
  FROM generate_series(1, {studies - 2 * legacy}) s, unnest(ARRAY[{tags}]) t;
INSERT INTO DFH_INSTANCE_ATTR
  SELECT '1.2.826.0.1.3680043.11.' || s || '.1', '1.2.826.0.1.3680043.10.' || s, '00080070', 'older'
  FROM generate_series({older_from}, {studies}) s;
-- ... and its set marker (what InstanceLedger.writeIndex and markEarlierRows write)
INSERT INTO DFH_INSTANCE_ATTR
  SELECT '1.2.826.0.1.3680043.11.' || s || '.1', '1.2.826.0.1.3680043.10.' || s, '{MARKER}', COALESCE({set_of}, '{NO_SET}')
  FROM generate_series(1, {studies}) s;
"""


def old_sql(station: str) -> str:
    return (f"SELECT DISTINCT STUDY_INSTANCE_UID FROM DFH_INSTANCE_ATTR WHERE TAG = '{STATION}' AND VAL IN ('{station}')"
            f" UNION SELECT DISTINCT STUDY_INSTANCE_UID FROM DFH_INSTANCE WHERE INDEX_SET IS NULL OR INDEX_SET NOT IN ('{CURRENT}')")


def new_sql(station: str) -> str:
    # AttributeIndex.candidatesSql: an equality lookup of the markers of each set without the tag
    # ('none' and the older set here), and the sets of the store this node does not know (none).
    marker = f" UNION SELECT STUDY_INSTANCE_UID, 0 FROM DFH_INSTANCE_ATTR WHERE TAG = '{MARKER}' AND VAL = "
    return (f"SELECT DISTINCT STUDY_INSTANCE_UID, 0 FROM DFH_INSTANCE_ATTR WHERE TAG = '{STATION}' AND VAL IN ('{station}')"
            f"{marker}'{NO_SET}'{marker}'{OLDER}'"
            f" UNION SELECT SET_ID, 1 FROM DFH_INDEX_SET WHERE SET_ID NOT IN ('{CURRENT}', '{OLDER}', '{NO_SET}')")


def generic(sql: str) -> str:
    """The statement with its literals as parameters, prepared and run under a generic plan; the
    parameters are varchar, as the JDBC driver binds setString."""
    params = []

    def param(m):
        params.append(m.group(0))
        return f"${len(params)}"
    body = re.sub(r"'[^']*'", param, sql)
    types = ", ".join("varchar" for _ in params)
    return (f"SET plan_cache_mode = force_generic_plan; PREPARE q({types}) AS {body};"
            f" EXPLAIN (ANALYZE, BUFFERS) EXECUTE q({', '.join(params)}); DEALLOCATE q;")


class Pg:
    def __init__(self, keep: str | None):
        self.dir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="idxplan-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "start", "--dir", str(self.dir / "pg"), "--port", str(self.port),
                        "--db", "idxplan", "--user", "bench", "--password", "bench"], check=True, stdout=subprocess.DEVNULL)
        self.env = dict(os.environ, PGPASSWORD="bench")

    def psql(self, sql: str) -> str:
        return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1", "-p", str(self.port),
                               "-U", "bench", "-d", "idxplan", "-c", sql], env=self.env, check=True, capture_output=True,
                              text=True).stdout

    def stop(self, keep: bool):
        subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "stop", "--dir", str(self.dir / "pg")], stderr=subprocess.DEVNULL)
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def execution_ms(plan: str) -> float:
    return float(re.search(r"Execution Time: ([0-9.]+) ms", plan).group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=20_000, help="studies of 50 instances (default 20,000: 1,000,000 rows)")
    ap.add_argument("--legacy", type=int, default=2, help="studies without a set, and as many under a set without StationName")
    ap.add_argument("--runs", type=int, default=7, help="EXPLAIN ANALYZE runs of each statement (median reported)")
    ap.add_argument("--keep", help="keep the cluster in this directory (default: a temporary one, removed)")
    args = ap.parse_args()
    if shutil.which("psql") is None:
        sys.exit("psql not found (apt-get install postgresql-client)")
    pg = Pg(args.keep)
    try:
        started = time.monotonic()
        pg.psql(DDL)
        pg.psql(load_sql(args.studies, args.legacy))
        pg.psql(INDEXES)
        pg.psql("VACUUM ANALYZE")
        rows = pg.psql("SELECT (SELECT COUNT(*) FROM DFH_INSTANCE) || ' ' || (SELECT COUNT(*) FROM DFH_INSTANCE_ATTR)").split()
        print(f"loaded {int(rows[0]):,} ledger rows and {int(rows[1]):,} index rows in {time.monotonic() - started:.1f} s"
              f" ({pg.psql('SHOW server_version').strip()})")
        station = "station07"
        answers = {}
        summary = []
        for name, make in (("before (ledger scan)", old_sql), ("after (set markers)", new_sql)):
            sql = make(station)
            answers[name] = sorted(line.split("|")[0] for line in pg.psql(sql).split() if not line.endswith("|1"))
            custom = [pg.psql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}") for _ in range(args.runs)]
            generics = [pg.psql(generic(sql)) for _ in range(args.runs)]
            median_custom = statistics.median(execution_ms(p) for p in custom)
            median_generic = statistics.median(execution_ms(p) for p in generics)
            summary.append((name, len(answers[name]), median_custom, median_generic))
            print(f"\n=== {name}: {len(answers[name])} studies; execution median of {args.runs}: custom plan"
                  f" {median_custom:.3f} ms, generic plan {median_generic:.3f} ms\n{sql}\n--- custom plan (last run)\n{custom[-1]}"
                  f"--- generic plan (last run)\n{generics[-1]}")
        same = len(set(tuple(a) for a in answers.values())) == 1
        print("\n| statement | studies named | execution, custom plan (ms) | generic plan (ms) |\n|---|---|---|---|")
        for name, count, c, g in summary:
            print(f"| {name} | {count} | {c:.3f} | {g:.3f} |")
        print(f"\nsame studies named: {'yes' if same else 'NO'}")
        return 0 if same else 1
    finally:
        pg.stop(args.keep is not None)


if __name__ == "__main__":
    sys.exit(main())
