"""Differential QIDO-RS test: our DICOMweb facade and Orthanc + its DICOMweb plugin hold the same
real corpus instances and must answer the same queries alike.

Runs as root inside a loopback-only network namespace (Orthanc listens on every interface):

    scripts/orthanc.sh ns .venv/bin/python -m pytest -q tests/orthanc

The session starts Orthanc (scripts/orthanc.sh start: installs the Debian packages when missing)
and the example server (tests/server_harness.py: $DICOMFHIR_JAR, else the built
examples/target/dicom-fhir-example-server-*.jar) on throwaway data directories, stores every
instance the e2e corpus expects to be created (tests/e2e/dicom_expect.py) into both with STOW-RS,
and stops both at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import dicom_expect as dx  # noqa: E402
from server_harness import HarnessError, free_port  # noqa: E402  (tests/, on sys.path via tests/conftest.py)

BOUNDARY = "dicomfhir-orthanc-diff"


def data_dir() -> Path:
    return Path(os.environ.get("DICOMFHIR_DATA", str(ROOT / ".data")))


def loopback_only() -> bool:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return [l.split(":")[1].strip() for l in out.splitlines() if ":" in l] == ["lo"]


_CORPUS = None


def corpus() -> dx.Corpus:
    global _CORPUS
    if _CORPUS is None:
        _CORPUS = dx.load_corpus(data_dir())
    return _CORPUS


@dataclass
class Peers:
    ours: str
    orthanc: str
    stored: list = field(default_factory=list)  # dx.Instance accepted by both
    only_ours: list = field(default_factory=list)  # (dx.Instance, Orthanc's status)
    only_orthanc: list = field(default_factory=list)  # (dx.Instance, our status)

    def one_sided_uids(self) -> set[str]:
        """UIDs of instances only one server accepted, and of series / studies made only of them:
        left out of the comparison (test_one_sided_acceptance_is_known asserts which they are)."""
        lone = [i for i, _ in self.only_ours + self.only_orthanc]
        both = self.stored
        out = {i.sop_uid for i in lone}
        out |= {i.series_uid for i in lone} - {i.series_uid for i in both}
        out |= {i.study_uid for i in lone} - {i.study_uid for i in both}
        return out


def stow(base: str, data: bytes) -> int:
    body = (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
            + f"\r\n--{BOUNDARY}--\r\n".encode())
    r = requests.post(f"{base}/studies", data=body, timeout=300, headers={
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
        "Accept": "application/dicom+json"})
    if r.status_code != 200:
        return r.status_code
    body = r.json()
    body = body[0] if isinstance(body, list) else body
    return 409 if body.get("00081198", {}).get("Value") else 200


@pytest.fixture(scope="session")
def peers(request):
    if os.geteuid() != 0 or not loopback_only():
        pytest.exit("tests/orthanc must run as root in a loopback-only network namespace: "
                    "scripts/orthanc.sh ns .venv/bin/python -m pytest -q tests/orthanc", returncode=2)
    if not any((data_dir() / d).is_dir() for d in dx.CORPUS_DIRS):
        pytest.exit(f"no test corpus in {data_dir()}: run scripts/fetch-test-data.sh", returncode=2)
    try:
        pool = request.getfixturevalue("example_servers")  # tests/conftest.py
    except HarnessError as e:
        pytest.exit(str(e), returncode=2)
    work = pool.work
    script = ROOT / "scripts" / "orthanc.sh"
    server = pool.start("server", f"--example.data-dir={work / 'data'}", java_opts=["-XX:TieredStopAtLevel=1"])
    try:
        orthanc = subprocess.check_output([str(script), "start", str(work / "orthanc"),
                                           "--port", str(free_port())], text=True).strip().splitlines()[-1]
        try:
            server.wait_ready(600)
        except HarnessError as e:
            pytest.exit(f"our server: {e}", returncode=2)
        p = Peers(ours=f"{server.base}/dicomweb", orthanc=orthanc)
        for inst in corpus().stored():
            a, b = stow(p.ours, inst.data), stow(p.orthanc, inst.data)
            if a == 200 and b == 200:
                p.stored.append(inst)
            elif a == 200:
                p.only_ours.append((inst, b))
            elif b == 200:
                p.only_orthanc.append((inst, a))
        print(f"\ntests/orthanc: {len(p.stored)} instances stored in both; "
              f"only ours (Orthanc's status): {[(i.relpath, st) for i, st in p.only_ours]}; "
              f"only Orthanc (our status): {[(i.relpath, st) for i, st in p.only_orthanc]}")
        yield p
    finally:
        subprocess.run([str(script), "stop", str(work / "orthanc")])
