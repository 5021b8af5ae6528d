"""kill -9 of `padim-edge serve` mid-run and a restart: tritonserver goes with it, the client fails fast while
it is down (without hammering it), counts those frames as missed, and scores again once it is back."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from procs import Serve, wait_gone

from padim_edge.runtime.backends.base import BackendUnavailable
from padim_edge.runtime.backends.triton import open_triton
from padim_edge.runtime.backoff import Backoff
from padim_edge.runtime.pipeline import Pipeline, PipelineOptions
from padim_edge.runtime.predictor import Predictor
from padim_edge.runtime.results import FrameResult
from padim_edge.runtime.sources import Frame, Source


class PacedImages(Source):
    """ELPV cells cycled at `fps` until `until` is set, then `tail` more: a camera that outlives an outage."""

    live, fps, name = False, 20.0, "paced cells"

    def __init__(self, images: list[Path], until: threading.Event, tail: int) -> None:
        super().__init__()
        self.images = [cv2.imread(str(p)) for p in images]
        self.until, self.tail, self.sent = until, tail, 0

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        left = self.tail
        while not stop.is_set() and left > 0:
            left -= self.until.is_set()
            now = time.perf_counter()
            yield Frame(self.sent, time.time(), now, 0.0, self.images[self.sent % len(self.images)])
            self.sent += 1
            stop.wait(1 / self.fps)


class Collect:
    def __init__(self) -> None:
        self.results: list[FrameResult] = []

    def write(self, result: FrameResult) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


def test_kill_9_and_restart(tiny_onnx: Path, elpv_images: list[Path]):
    first = Serve(tiny_onnx, "tiny", 1).start(120)
    second = Serve(tiny_onnx, "tiny", 1, first.ports, fixed_ports=True)  # restarted on the same ports
    frame = np.zeros((1, 64, 96, 3), np.uint8)
    try:
        backend, probe = open_triton(first.grpc, first.name), open_triton(first.http, first.name)
        backend.backoff = Backoff(first_s=0.1, max_s=0.5)  # the default caps at 4 s: keep the test short
        restarted = threading.Event()
        source, sink = PacedImages(elpv_images, restarted, tail=30), Collect()
        pipeline = Pipeline(source, Predictor(backend), sink, PipelineOptions(batch=2))
        pipeline.start()
        time.sleep(1.0)
        first.process.kill()  # kill -9: tritonserver gets SIGTERM from the kernel (parent-death signal)
        first.process.wait()
        assert not wait_gone(first.tritonserver, 30), "tritonserver outlived a kill -9 of serve"

        for _ in range(2):  # the first call tries and fails; the next one, within the backoff, does not try
            with pytest.raises(BackendUnavailable):
                probe.infer(frame)
        assert probe.backoff.failures == 1  # one attempt counted: the second call never reached the network

        waiting: list = []
        waiter = threading.Thread(target=lambda: waiting.append(open_triton(first.http, first.name, wait_s=120)))
        waiter.start()  # what --retry does at start
        second.start(120)
        restarted.set()
        waiter.join(30)
        assert waiting and waiting[0].info.threshold == backend.info.threshold
        time.sleep(probe.backoff.wait_s())
        assert probe.infer(frame)[1].shape == (1,)  # back
        while not pipeline.wait(0.5):
            pass
        summary = pipeline.finish()
    finally:
        first.stop(signal.SIGKILL)
        code = second.stop(signal.SIGINT)
        left = wait_gone(second.tritonserver, 30)
    assert summary["frames"] + summary["missed"] == source.sent
    assert summary["missed"] > 0 and summary["frames"] > 20
    assert all(r.verdict for r in sink.results[-10:]), "not scoring again after the restart"
    assert all(not r.verdict for r in sink.results if r.error)
    assert code == 130 and not left  # Ctrl-C: a clean stop, tritonserver gone
