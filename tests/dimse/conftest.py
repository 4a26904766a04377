"""Fixtures of the DIMSE tests (scripts/dimse-test.sh): the example server (tests/server_harness.py,
the built jar), and `dicom-fhir listen` processes in front of it ($DICOMFHIR_CLI, else
target/release/dicom-fhir), started on a free port (`--port 0`; the port is read from the first
line the listener prints). A listener must stop cleanly on SIGTERM and never panic: every
listener's teardown checks both."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server_harness import ServerPool  # noqa: E402

from dimse_util import AE, ALLOWED, cli  # noqa: E402


class Listener:
    """`dicom-fhir listen` against `base`; its stderr (one line per association and instance) is
    kept in `log`."""

    def __init__(self, base: str, log: Path, *extra: str):
        self.log = log
        self.stderr = open(log, "w")
        defaults = [] if "--timeout" in extra else ["--timeout", "60"]
        args = [cli(), "listen", "--server", base, "--ae-title", AE, "--port", "0", *defaults,
                "--idle-timeout", "20", *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        first = self.proc.stdout.readline()
        if "listening on" not in first:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"listener did not start: {first!r}\n{self.text()[-3000:]}")
        self.port = int(first.split("listening on ", 1)[1].split(",", 1)[0].rsplit(":", 1)[1])

    def text(self) -> str:
        if not self.stderr.closed:
            self.stderr.flush()
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.stderr.close()
        return code


@pytest.fixture(scope="session")
def server():
    pool = ServerPool("dimse")
    try:
        s = pool.start("dimse", f"--example.data-dir={pool.work / 'data'}",
                       java_opts=["-Xmx1g", "-XX:TieredStopAtLevel=1"])
        s.wait_ready()
        yield s
    finally:
        pool.close()


@pytest.fixture
def start_listener(tmp_path):
    """start_listener(base, *extra_args) -> Listener; each is stopped at the end of the test,
    must exit 0 and must not have panicked."""
    started: list[Listener] = []

    def start(base: str, *extra: str) -> Listener:
        listener = Listener(base, tmp_path / f"listener-{len(started)}.log", *extra)
        started.append(listener)
        return listener

    yield start
    for listener in started:
        assert listener.alive(), f"the listener died:\n{listener.text()[-3000:]}"
        code = listener.stop()
        text = listener.text()
        assert "panicked" not in text, text[-3000:]
        assert code == 0, f"listener exit {code}:\n{text[-3000:]}"


@pytest.fixture(scope="session")
def listener(server, tmp_path_factory):
    """The listener of most tests: AE DICOMFHIR, calling AE titles restricted to ALLOWED."""
    listener = Listener(server.base, tmp_path_factory.mktemp("listener") / "listener.log",
                        "--allowed-calling-ae", ",".join(ALLOWED), "--max-associations", "6")
    yield listener
    assert listener.alive(), f"the listener died:\n{listener.text()[-3000:]}"
    code = listener.stop()
    text = listener.text()
    assert "panicked" not in text, text[-3000:]
    assert code == 0, f"listener exit {code}:\n{text[-3000:]}"
