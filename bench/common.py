"""Helpers shared by the benchmark driver (run.py) and its facade phase (facade.py)."""

from __future__ import annotations

import threading
import time

import requests

_local = threading.local()


def session() -> requests.Session:
    """One HTTP session per client thread (keep-alive without sharing a session across threads)."""
    s = getattr(_local, "s", None)
    if s is None:
        s = _local.s = requests.Session()
    return s


def log(msg: str, prefix: str = ""):
    print(f"[{time.strftime('%H:%M:%S')}] {prefix}{msg}", flush=True)


def pct(values, q: float) -> float:
    """The q-quantile (0..1) by linear interpolation; NaN for no values."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)
