"""A camera-paced `run --server` client inside the benchmark process: the same Pipeline and Triton backend
as `padim-edge run --server`, on a video released at a camera's rate (a file would be read at decode speed,
racing through its frames while the server is down)."""

from __future__ import annotations

import threading
from pathlib import Path

from benchmarks.paced import PacedVideo
from padim_edge.runtime.backends.triton import open_triton
from padim_edge.runtime.pipeline import Pipeline, PipelineOptions
from padim_edge.runtime.predictor import Predictor
from padim_edge.runtime.results import FrameResult


class Verdicts:
    """A sink keeping, per frame in order, whether it was scored (True) or missed (False)."""

    def __init__(self) -> None:
        self.scored: list[bool] = []

    def write(self, result: FrameResult) -> None:
        self.scored.append(not result.error)

    def close(self) -> None:
        pass


class PacedClient:
    """One camera: connect to the server, then run the pipeline in a thread; `result()` after `join()`."""

    def __init__(self, url: str, model_name: str, video: Path, fps: float) -> None:
        self.sink = Verdicts()
        self.pipeline = Pipeline(
            PacedVideo(video, fps, live=False), Predictor(open_triton(url, model_name)), self.sink, PipelineOptions()
        )
        self.summary: dict = {}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.summary = self.pipeline.run()

    def start(self) -> None:
        self.thread.start()

    def result(self) -> dict:
        self.thread.join()
        last_missed = max((i for i, ok in enumerate(self.sink.scored) if not ok), default=-1)
        return {
            "scored": self.summary["frames"],
            "missed": self.summary["missed"],
            "scored_after_restart": sum(self.sink.scored[last_missed + 1 :]),
        }
