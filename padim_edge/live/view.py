"""One run as the live server sees it: the page's state, the metrics, the pipeline's counts, readiness."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from padim_edge.live.metrics import RunMetrics
from padim_edge.live.state import LiveState, finite
from padim_edge.runtime.results import FrameResult

if TYPE_CHECKING:
    import numpy as np

    from padim_edge.runtime.pipeline import Pipeline

READY_WINDOW_S = 5.0  # ready while the last scored frame is at most this old


class RunView:
    """`model`: its name, graph digest and threshold (as shown and as the info metric's labels)."""

    def __init__(self, name: str, digest: str, threshold: float | None) -> None:
        self.model = {"name": name, "digest": digest, "threshold": threshold}
        self.state = LiveState(threshold)
        self.metrics = RunMetrics(
            {"name": name, "digest": digest, "threshold": "" if threshold is None else repr(float(threshold))},
            self.counts,
            self.snapshot,
            lambda: self.readiness() == "",
        )
        self.pipeline: Pipeline | None = None
        self.running, self.stopped_by = True, ""

    def add(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        """A result from the outputs (the output thread): counted, observed, kept as the newest."""
        self.metrics.observe(result)
        self.state.add(result, overlay)

    def attach(self, pipeline: Pipeline) -> None:
        """The pipeline whose counts, rate and latency the page and /metrics show."""
        self.pipeline = pipeline

    def finish(self, stopped_by: str) -> None:
        """The run has ended: the page says so (and the server may stay up a while)."""
        self.running, self.stopped_by = False, stopped_by
        self.state.touch()

    def counts(self) -> dict[str, int]:
        with self.state.changed:
            return dict(self.state.counts)

    def snapshot(self) -> dict | None:
        return self.pipeline.snapshot() if self.pipeline is not None else None

    def readiness(self) -> str:
        """'' when ready (the model is loaded, since this view exists, and frames arrive and are scored), else
        why not."""
        if not self.running:
            return f"the run has ended ({self.stopped_by})"
        if not self.state.last_scored_at:
            return "no frame scored yet"
        age = time.monotonic() - self.state.last_scored_at
        return f"no frame scored for {age:.1f} s" if age > READY_WINDOW_S else ""

    def event(self) -> dict:
        """What the page shows, as one JSON-ready document."""
        view = self.state.view()
        counts = view.pop("counts")
        s = self.snapshot() or {}
        return {
            **view,
            "running": self.running,
            "stopped_by": self.stopped_by,
            "ready": self.readiness() == "",
            "model": self.model,
            "counts": {
                "ok": counts["OK"],
                "ng": counts["NG"],
                "unknown": counts["?"],
                "failed": counts["failed"],
                "missed": counts["missed"],
                "dropped": s.get("dropped", 0),
                "reconnects": s.get("reconnects", 0),
            },
            "fps": finite(s.get("fps"), 2),
            "p50_ms": finite(s.get("p50_ms"), 2),
            "p99_ms": finite(s.get("p99_ms"), 2),
            "gap_s": finite(s.get("gap_s"), 2),
        }
