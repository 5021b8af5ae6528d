"""Helpers for the serving tests: `padim-edge serve` subprocesses; the /proc and port helpers are the serving
benchmark's (benchmarks/serving_procs.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.serving_procs import descendants, proc_stat

START_TIMEOUT_S = 120


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
        self.tritonserver = [
            p for p in descendants(self.process.pid) if (st := proc_stat(p)) and st[0] == "tritonserver"
        ]
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
