"""Score BGR frames of any size with any backend: prepare, infer in batches, judge against the threshold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from padim_edge.errors import UserError
from padim_edge.runtime.backends import Backend, open_backend
from padim_edge.runtime.preprocess import crop_box, prepare_batch

OK, NG, UNKNOWN = "OK", "NG", "?"


@dataclass
class Prediction:
    """One image's result. `normalized` = score / threshold (> 1 is a reject); None without a threshold."""

    score: float
    normalized: float | None
    verdict: str
    anomaly_map: np.ndarray

    def as_dict(self) -> dict:
        return {"score": self.score, "normalized_score": self.normalized, "verdict": self.verdict}


class Predictor:
    """Frames in, predictions out; the threshold defaults to the one shipped in the model."""

    def __init__(self, backend: Backend, threshold: float | None = None) -> None:
        self.backend = backend
        config = backend.info.config
        self.resize, self.input_size = config.resize, config.input_size
        self.threshold = threshold if threshold is not None else config.threshold
        if self.threshold is not None and not self.threshold > 0:
            raise UserError(f"--threshold {self.threshold}: must be positive")

    @classmethod
    def open(cls, model: Path, threshold: float | None = None, **backend_options) -> Predictor:
        return cls(open_backend(model, **backend_options), threshold)

    def prepare(self, frames: list[np.ndarray]) -> np.ndarray:
        """The graph's input for these frames: uint8 [N, S, S, 3] after the training resize/crop."""
        return prepare_batch(frames, self.resize, self.input_size)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run a prepared batch, split to the backend's max batch when it has one."""
        step = self.backend.max_batch or len(batch)
        parts = [self.backend.infer(batch[i : i + step]) for i in range(0, len(batch), step)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def judge(self, score: float) -> tuple[float | None, str]:
        """(normalised score, verdict) for an image score."""
        if self.threshold is None:
            return None, UNKNOWN
        normalized = score / self.threshold
        return normalized, NG if normalized > 1.0 else OK

    def predict(self, frames: list[np.ndarray], original_size: bool = False) -> list[Prediction]:
        """Score frames; maps at model resolution, or placed back onto each frame when `original_size`."""
        if not frames:
            return []
        maps, scores = self.infer(self.prepare(frames))
        results = []
        for frame, amap, score in zip(frames, maps, scores):
            if original_size:
                amap = map_to_frame(amap, frame.shape[0], frame.shape[1], self.resize)
            normalized, verdict = self.judge(float(score))
            results.append(Prediction(float(score), normalized, verdict, amap))
        return results


def map_to_frame(amap: np.ndarray, height: int, width: int, resize: int) -> np.ndarray:
    """Put a model-resolution map back onto the frame it came from; outside the crop it is 0."""
    top, left, bottom, right = crop_box(height, width, resize, amap.shape[0])
    full = np.zeros((height, width), np.float32)
    full[top:bottom, left:right] = cv2.resize(amap, (right - left, bottom - top), interpolation=cv2.INTER_LINEAR)
    return full
