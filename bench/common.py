"""Helpers shared by the benchmark driver (run.py) and its facade phase (facade.py)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# One HTTP session per client thread: the test harness' (tests/fhir_http.py).
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from fhir_http import thread_session as session  # noqa: E402,F401


def log(msg: str, prefix: str = ""):
    print(f"[{time.strftime('%H:%M:%S')}] {prefix}{msg}", flush=True)


def met(ok: bool) -> str:
    """The "met" column of the report's tables: whether a figure meets its bar."""
    return "yes" if ok else "**no**"


def row(*cells) -> str:
    """One row of the report's table (figure | ours | reference | ratio | bar | met); an empty
    cell is a single space, as in `| | |`."""
    return "|" + "|".join(f" {c} " if c != "" else " " for c in cells) + "|"


def median_p95(figures: dict) -> str:
    """`median / p95` of a figure's latencies (ms)."""
    return f"{figures['median_ms']} / {figures['p95_ms']}"


def pct(values, q: float) -> float:
    """The q-quantile (0..1) by linear interpolation; NaN for no values."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def settle(pids: list[int], quiet: float = 0.05, quiet_s: float = 2.0, max_s: float = 60.0) -> float:
    """Waits until every process uses under `quiet` of a core for `quiet_s` (at most `max_s`), so a
    figure is timed at rest: not during HAPI's start-up housekeeping (it fills its search parameter
    identity table, some 3,600 rows, for about 20 s after start, longer under load) nor the
    housekeeping after a 10,000-instance ingest (whatever is timed first would take it all).
    Returns the seconds waited."""
    def cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    t0 = time.time()
    last = {p: cpu(p) for p in pids}
    calm = 0.0
    while time.time() - t0 < max_s and calm < quiet_s:
        time.sleep(0.5)
        now = {p: cpu(p) for p in pids}
        calm = calm + 0.5 if all(now[p] - last[p] < quiet * 0.5 for p in pids) else 0.0
        last = now
    waited = round(time.time() - t0, 1)
    log(f"settle: servers idle after {waited}s")
    return waited
