"""The one result type of `predict` and `run`, and its JSON line (schema in docs/results.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from padim_edge.imaging.geometry import Placement
from padim_edge.runtime.sources import Frame

RESULT_SCHEMA = 2  # 2: model_digest


@dataclass(eq=False)
class FrameResult:
    """A frame on its way through the pipeline: its verdict, or why it has none, and the perf_counter time
    of each hand-over."""

    frame: Frame
    tensor: np.ndarray | None = None
    placement: Placement | None = None
    anomaly_map: np.ndarray | None = None  # model resolution
    score: float = float("nan")
    normalized: float | None = None
    verdict: str | None = None
    #: Why the frame was not scored: an unreadable file, a server that was down ("missed").
    error: str = ""
    missed: bool = False
    #: graph_sha256 of the model that scored the frame (models swap while `run` goes on).
    model_digest: str = ""
    batch: int = 0
    preprocess_in: float = 0.0
    preprocess_out: float = 0.0
    infer_in: float = 0.0
    infer_out: float = 0.0
    output_in: float = 0.0
    output_out: float = 0.0

    @property
    def scored(self) -> bool:
        return not self.error

    @property
    def latency_s(self) -> float:
        """Capture to verdict."""
        return self.infer_out - self.frame.captured

    def stage_seconds(self) -> dict[str, float]:
        f = self.frame
        return {
            "read": f.read_s,
            "wait_preprocess": self.preprocess_in - f.captured,
            "preprocess": self.preprocess_out - self.preprocess_in,
            "wait_infer": self.infer_in - self.preprocess_out,
            "infer": self.infer_out - self.infer_in,
            "wait_output": self.output_in - self.infer_out,
            "output": self.output_out - self.output_in,
            "capture_to_verdict": self.latency_s,
            "capture_to_output": self.output_out - f.captured,
        }

    def as_json(self) -> dict:
        """The JSON line: always valid JSON (a score that is not finite is null, with an error)."""
        line: dict = {"schema": RESULT_SCHEMA, "index": self.frame.index}
        if self.frame.name:
            line["name"] = self.frame.name
        line["timestamp"] = round(self.frame.timestamp, 6) if math.isfinite(self.frame.timestamp) else None
        if self.error:
            line.update(score=None, normalized_score=None, verdict=self.verdict, error=self.error)
            return line
        finite = math.isfinite(self.score)
        line.update(
            score=round(self.score, 6) if finite else None,
            normalized_score=None if self.normalized is None else round(self.normalized, 6),
            verdict=self.verdict,
            latency_ms=round(self.latency_s * 1e3, 3),
            model_digest=self.model_digest or None,
        )
        if not finite:
            line["error"] = "the model returned a score that is not a finite number"
        return line
