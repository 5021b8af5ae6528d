"""`padim-edge run --http` as a subprocess, and plain HTTP requests to it (paths sent as written, so path
traversal is tried for real); a video of real cell frames to run it on."""

from __future__ import annotations

import http.client
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
from cli_runner import Outcome, start

from padim_edge.runtime.backends import open_backend
from padim_edge.runtime.predictor import Predictor


def write_video(path: Path, frames: list[Path], count: int, fps: float = 10.0) -> Path:
    """A lossless video of `count` frames cycling through `frames` (all 600x300)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (600, 300))
    for i in range(count):
        writer.write(cv2.imread(str(frames[i % len(frames)])))
    writer.release()
    return path


def median_score(model: Path, frames: list[Path]) -> float:
    """The median score of `frames`: as a threshold, it rejects about half of them."""
    predictor = Predictor(open_backend(model))
    scores = [float(predictor.infer(predictor.prepare(cv2.imread(str(p)))[0][None])[1][0]) for p in frames]
    predictor.backend.close()
    return float(np.median(scores))


class LiveRun:
    """`padim-edge run ARGS --http 127.0.0.1:0 --http-linger LINGER`; `url` once it listens. SIGTERM ends
    the linger (`finish`)."""

    def __init__(self, *args: object, linger: float = 120, **env: str) -> None:
        self.process = start("run", *args, "--http", "127.0.0.1:0", "--http-linger", linger, **env)
        self.err: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        self.url = self._wait_for_url()
        self.host, self.port = urlsplit(self.url).hostname, urlsplit(self.url).port

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self.err.append(line)

    def _wait_for_url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.err):
                if line.startswith("live page: "):
                    return line.split()[2]
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.process.kill()
        raise AssertionError(f"no live page (exit {self.process.poll()}): {''.join(self.err)}")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """GET `path` exactly as written: (status, headers, body)."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def wait_until_ended(self, timeout: float = 120) -> None:
        """Until /readyz says the run has ended (the server lingers)."""
        deadline = time.monotonic() + timeout
        while b"the run has ended" not in self.get("/readyz")[2]:
            assert self.process.poll() is None and time.monotonic() < deadline, "".join(self.err)
            time.sleep(0.1)

    def finish(self) -> Outcome:
        """SIGTERM (ends the linger), then what the run said."""
        self.process.send_signal(signal.SIGTERM)
        try:
            out = self.process.stdout.read()
            self.process.wait(timeout=60)
        finally:
            self.close()
        self._reader.join(timeout=10)
        return Outcome(self.process.returncode, out, "".join(self.err))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
