"""Processes for the serving benchmark and the serving tests: a `padim-edge serve` on loopback, `padim-edge
run` clients, and the /proc readings (RSS, CPU time, children) and Triton metrics the benchmark samples."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CLI = [sys.executable, "-m", "padim_edge.cli"]
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


#: What `padim-edge serve` says when a port it was given is taken (by its own check, or by tritonserver).
PORT_TAKEN = ("cannot listen there", "the Triton server did not start")
#: Starts on fresh ports after a port was taken between `free_ports` and tritonserver's bind.
PORT_RETRIES = 3


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now, all different. Another process may take one before the server binds it
    (tritonserver cannot be handed a bound socket): `Serve.start` then starts again on fresh ports."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def proc_stat(pid: int) -> tuple[str, int, float, float] | None:
    """(command name, parent pid, CPU seconds, RSS MB) of a live process, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text()
    except OSError:
        return None
    name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
    if rest[0] == "Z":
        return None
    cpu = (int(rest[11]) + int(rest[12])) / TICK
    return name, int(rest[1]), cpu, int(statm.split()[1]) * PAGE / 2**20


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        stat = proc_stat(int(entry.name))
        if stat:
            parents.setdefault(stat[1], []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """The pids still alive after waiting up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p for p in pids if proc_stat(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def metrics(url: str, model: str) -> dict[str, float]:
    """Triton's per-model counters from its Prometheus endpoint (nv_inference_count, ..._exec_count, ...)."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("nv_inference_") and f'model="{model}"' in line:
            out[line.split("{", 1)[0]] = float(line.rsplit(" ", 1)[1])
    return out


@dataclass
class Serve:
    """`padim-edge serve MODEL` on 127.0.0.1 with fixed ports, restartable on the same ones."""

    model: Path
    name: str
    threads: int
    ports: list[int] = field(default_factory=lambda: free_ports(3))
    process: subprocess.Popen | None = None
    log: list[str] = field(default_factory=list)
    started_s: float = 0.0
    tritonserver: list[int] = field(default_factory=list)  # its pids, found at start (to wait for after a kill)
    fixed_ports: bool = False  # True: never move to other ports (a restart on the same ones)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def grpc(self) -> str:
        return f"grpc://127.0.0.1:{self.ports[1]}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[2]}/metrics"

    def start(self, timeout_s: float = 180) -> Serve:
        """Start and wait for the ready line; on a port taken meanwhile, start again on fresh ports."""
        for attempt in range(PORT_RETRIES):
            if self._start(timeout_s):
                return self
            taken = any(marker in line for line in self.log for marker in PORT_TAKEN)
            if self.fixed_ports or not taken or attempt == PORT_RETRIES - 1:
                break
            self.ports, self.log = free_ports(3), []
        raise SystemExit("padim-edge serve did not start:\n" + "".join(self.log[-30:]))

    def _start(self, timeout_s: float) -> bool:
        http, grpc, metrics_port = (str(p) for p in self.ports)
        command = [*CLI, "serve", str(self.model), "--name", self.name, "--threads", str(self.threads)]
        command += ["--http-port", http, "--grpc-port", grpc, "--metrics-port", metrics_port]
        begun = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()
        reader = threading.Thread(target=self._read, args=(self.process, ready), daemon=True)
        reader.start()
        if not ready.wait(timeout_s) or self.process.poll() is not None:
            self.kill()
            reader.join(10)
            return False
        self.started_s = time.perf_counter() - begun
        self.tritonserver = [
            p for p in descendants(self.process.pid) if (st := proc_stat(p)) and st[0] == "tritonserver"
        ]
        return True

    def _read(self, process: subprocess.Popen, ready: threading.Event) -> None:
        for line in process.stderr:
            self.log.append(line)
            if line.startswith("serving "):
                ready.set()
        ready.set()  # the process ended: start() reports what it printed

    def tree(self) -> dict[str, int]:
        """pid of serve's Python process, of tritonserver and of the Python backend stub."""
        pids = {"serve (python)": self.process.pid}
        for pid in descendants(self.process.pid):
            stat = proc_stat(pid)
            if stat and stat[0] in ("tritonserver", "triton_python_b"):
                pids["tritonserver" if stat[0] == "tritonserver" else "backend stub"] = pid
        return pids

    def cpu_s(self) -> float:
        return sum(s[2] for p in [self.process.pid, *descendants(self.process.pid)] if (s := proc_stat(p)))

    def kill(self) -> list[int]:
        """kill -9 of serve's Python process; returns the descendants it had (tritonserver goes by itself)."""
        below = descendants(self.process.pid) if self.process else []
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        return below

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 60) -> int | None:
        """Send `signum`, wait; the exit code (None if it had to be killed after `timeout_s`)."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


def run_client(source: Path, out: Path, backend: list[str], batch: int = 1) -> subprocess.Popen:
    """`padim-edge run` on `source`, JSON lines to OUT.jsonl and the summary to OUT.json."""
    command = [*CLI, "run", *backend, "--source", str(source), "--batch", str(batch)]
    command += ["--results", str(out.with_suffix(".jsonl")), "--summary-json", str(out.with_suffix(".json"))]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 16), b""))
    except OSError:
        return 0
