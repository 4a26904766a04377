"""The example server for the Python tests and drivers, by the same rules as scripts/lib/server.sh:
the jar is $DICOMFHIR_JAR, else the newest examples/target/dicom-fhir-example-server-*.jar, run from
a private copy (a concurrent rebuild must not pull it from under the JVM), on 127.0.0.1 and a free
port; ready when /fhir/metadata answers, within a deadline, else a HarnessError with the log's tail.

    pool = ServerPool("orthanc-diff")             # throwaway directory + private jar copy
    server = pool.start("server", f"--example.data-dir={pool.work / 'data'}",
                        java_opts=["-XX:TieredStopAtLevel=1"])
    server.wait_ready()
    ...
    pool.close()                                  # stops the servers, removes the directory

A Server can also be SIGKILLed and started again on the same data directory (the crash test):
server.kill9(); server.start(...); server.wait_ready(). tests/conftest.py has the pytest fixture
(`example_servers`, a ServerPool closed at the end of the session).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.5


class HarnessError(RuntimeError):
    """The server could not be chosen or started (the message says why, with the log's tail)."""


def find_jar() -> Path:
    env = os.environ.get("DICOMFHIR_JAR")
    if env:
        if not Path(env).is_file():
            raise HarnessError(f"DICOMFHIR_JAR={env}: no such file")
        return Path(env)
    jars = [p for p in (ROOT / "examples" / "target").glob("dicom-fhir-example-server-*.jar")
            if "original" not in p.name]
    if not jars:
        raise HarnessError("no server jar (set DICOMFHIR_JAR or run mvn -B -DskipTests install)")
    return max(jars, key=lambda p: p.stat().st_mtime)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            last = f.readlines()[-lines:]
    except OSError:
        return ""
    return "".join(line.decode("utf-8", "replace").rstrip()[:300] + "\n" for line in last)


class Server:
    """One example server: a jar, a log directory, a fixed port (so a restart keeps its URL), and
    the working directory of its JVM (`cwd`, default this process's: relative paths of the
    server's configuration, e.g. its viewer directory, are relative to it)."""

    def __init__(self, jar: Path, log_dir: Path, name: str = "server", port: int | None = None,
                 java_opts: list[str] | tuple[str, ...] = (), args: list[str] | tuple[str, ...] = (),
                 cwd: Path | None = None):
        self.jar, self.log_dir, self.name, self.cwd = Path(jar), Path(log_dir), name, cwd
        self.port = port or free_port()
        self.java_opts, self.args = list(java_opts), list(args)
        self.proc: subprocess.Popen | None = None
        self.log_path = self.log_dir / f"{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"{self.url}/fhir"

    def start(self, *extra_args: str, log_name: str | None = None) -> "Server":
        """Starts the JVM (does not wait: see wait_ready) with the server's arguments and these."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError(f"{self.name} is running already (pid {self.proc.pid})")
        self.log_path = self.log_dir / (log_name or f"{self.name}.log")
        cmd = ["java", *self.java_opts, "-jar", str(self.jar), "--server.address=127.0.0.1",
               f"--server.port={self.port}", *self.args, *extra_args]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd)
        return self

    def wait_ready(self, deadline_s: float = 300) -> "Server":
        """Polls /fhir/metadata until it answers 200; HarnessError when the JVM exits or the
        deadline passes."""
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + deadline_s
        while True:
            if self.proc.poll() is not None:
                raise HarnessError(f"{self.name} exited with {self.proc.returncode} at start-up, "
                                   f"see {self.log_path}:\n{tail(self.log_path)}")
            try:
                if requests.get(f"{self.base}/metadata", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() >= deadline:
                raise HarnessError(f"{self.name} did not answer {self.base}/metadata in {deadline_s:.0f}s, "
                                   f"see {self.log_path}:\n{tail(self.log_path)}")
            time.sleep(POLL_SECONDS)

    def kill9(self) -> None:
        """SIGKILL, as a crash would: no shutdown hook runs."""
        assert self.proc is not None, "start() first"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout_s: float = 60) -> None:
        """SIGTERM, then SIGKILL after timeout_s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)


class ServerPool:
    """A throwaway directory (`work`) with a private copy of the jar, and the servers started from it."""

    def __init__(self, prefix: str = "server"):
        source = find_jar()
        self.work = Path(tempfile.mkdtemp(prefix=f"dicomfhir-{prefix}-"))
        self.source_jar = source
        self.jar = self.work / "server.jar"
        shutil.copyfile(source, self.jar)
        self.servers: list[Server] = []

    def start(self, name: str, *args: str, java_opts: list[str] | tuple[str, ...] = ()) -> Server:
        server = Server(self.jar, self.work, name, java_opts=java_opts, args=args)
        self.servers.append(server)
        return server.start()

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.work, ignore_errors=True)
