"""Frames of any size in, scores and maps out: place each frame on the model's input, infer in batches,
judge each score against the threshold."""

from __future__ import annotations

import math

import numpy as np

from padim_edge.errors import UserError
from padim_edge.imaging.geometry import Geometry, Placement
from padim_edge.runtime.backends import Backend

OK, NG, UNKNOWN = "OK", "NG", "?"


def check_threshold(threshold: float | None) -> None:
    """`--threshold`, when given, must be a positive number (the model's own is checked with its metadata)."""
    if threshold is not None and not (math.isfinite(threshold) and threshold > 0):
        raise UserError(f"--threshold {threshold}: must be a positive number")


def batch_parts(n: int, max_batch: int | None) -> list[tuple[int, int]]:
    """(start, stop) of the consecutive parts of an `n`-frame batch, each at most `max_batch` frames."""
    step = max_batch or n
    return [(start, min(start + step, n)) for start in range(0, n, step)]


class Predictor:
    """A backend with the model's geometry and threshold (the model's own unless `threshold` overrides it)."""

    def __init__(self, backend: Backend, threshold: float | None = None) -> None:
        self.backend = backend
        config = backend.info.config
        self.geometry = Geometry.of(config)
        check_threshold(threshold)
        self.threshold = threshold if threshold is not None else config.threshold

    @property
    def digest(self) -> str:
        """The model's graph digest (its metadata's graph_sha256), "" where the model records none."""
        return self.backend.info.export.graph_sha256

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.geometry.height, self.geometry.width

    def prepare(self, frame: np.ndarray) -> tuple[np.ndarray, Placement]:
        """The graph's input for one BGR frame of any size, and where the frame went."""
        return self.geometry.prepare(frame)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run a prepared batch within the backend's batch range: split to its max batch, and a part smaller
        than its min batch (a TensorRT profile's) padded with black frames whose results are dropped."""
        parts = []
        for start, stop in batch_parts(len(batch), self.backend.max_batch):
            part, n = batch[start:stop], stop - start
            if n < self.backend.min_batch:
                part = np.concatenate([part, np.zeros((self.backend.min_batch - n, *part.shape[1:]), part.dtype)])
            maps, scores = self.backend.infer(part)
            parts.append((maps[:n], scores[:n]))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def judge(self, score: float) -> tuple[float | None, str]:
        """(normalised score, verdict): score / threshold, NG above 1. A score that is not a finite number
        is never judged OK; without a threshold the verdict is '?'."""
        if not math.isfinite(score):
            return None, NG
        if self.threshold is None:
            return None, UNKNOWN
        normalized = score / self.threshold
        return normalized, NG if normalized > 1.0 else OK

    def check_model(self) -> None:
        """Warm the backend up on a black frame (first calls allocate; padded to the backend's min batch) and
        refuse a model that scores it with NaN or infinity: broken statistics would otherwise give every frame
        the same non-answer."""
        _, scores = self.infer(np.zeros((1, *self.input_hw, 3), np.uint8))
        if not np.isfinite(scores).all():
            raise UserError(
                f"{self.backend.describe()}: the model scores a black frame as {scores[0]} (broken statistics?)"
            )
