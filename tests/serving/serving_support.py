"""Helpers for the serving tests: free loopback ports, `padim-edge serve` subprocesses, child processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_S = 120


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def children(pid: int, name: str) -> list[int]:
    """Processes whose parent is `pid` and whose command name is `name` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == pid and comm == name:
            found.append(int(stat.parent.name))
    return found


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """The pids still alive after waiting up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and "(Z)" not in _state(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _state(pid: int) -> str:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "(Z)"
    return f"({text[text.rindex(')') + 2]})"


@dataclass
class Server:
    """A `padim-edge serve` subprocess on loopback; its output is collected in `log`."""

    model: Path
    ports: list[int]
    name: str = "tiny"
    process: subprocess.Popen | None = None
    log: list[str] = field(default_factory=list)
    tritonserver: list[int] = field(default_factory=list)

    @property
    def grpc(self) -> str:
        return f"grpc://127.0.0.1:{self.ports[1]}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def metrics(self) -> str:
        return f"http://127.0.0.1:{self.ports[2]}/metrics"

    def start(self) -> Server:
        http, grpc, metrics = self.ports
        command = [sys.executable, "-m", "padim_edge.cli", "serve", str(self.model), "--name", self.name]
        command += ["--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)]
        command += ["--threads", "1"]
        self.log = []
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()
        threading.Thread(target=self._read, args=(self.process, ready), daemon=True).start()
        if not ready.wait(START_TIMEOUT_S):
            self.stop(signal.SIGKILL)
            raise AssertionError("serve did not start:\n" + "".join(self.log[-30:]))
        self.tritonserver = children(self.process.pid, "tritonserver")
        return self

    def _read(self, process: subprocess.Popen, ready: threading.Event) -> None:
        for line in process.stderr:
            self.log.append(line)
            if line.startswith("serving "):
                ready.set()
        ready.set()  # the process ended: start() reports what it printed

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 30) -> int | None:
        """Signal serve, wait for it; returns its exit code (None if it had to be killed)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        os.kill(self.process.pid, signum)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
