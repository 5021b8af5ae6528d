"""What the live page shows: the newest scored result, the score trend, the counts, the last rejected
frames; JPEGs are encoded on request, at a bounded rate, outside the lock the output thread takes."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from padim_edge.runtime.predictor import NG
from padim_edge.runtime.results import FrameResult
from padim_edge.sinks.base import render

TREND = 300  # scores in the trend plot
REJECTS = 12  # rejected frames kept (their images stay in memory until encoded)
FRAME_INTERVAL_S = 0.2  # the newest frame is encoded at most 5 times a second, whoever asks
THUMB_WIDTH = 160
JPEG_QUALITY = 80


def encode_jpeg(image: np.ndarray, width: int | None = None) -> bytes:
    """A JPEG of `image`, scaled down to `width` pixels wide when given."""
    if width and image.shape[1] > width:
        image = cv2.resize(image, (width, max(1, round(image.shape[0] * width / image.shape[1]))), cv2.INTER_AREA)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()


def finite(value: float | None, digits: int = 6) -> float | None:
    """A number for JSON: None where it is not finite."""
    return round(float(value), digits) if value is not None and math.isfinite(value) else None


def describe(result: FrameResult) -> dict:
    """The shown facts of a scored frame (its name is user input: the page only ever sets it as text)."""
    return {
        "index": result.frame.index,
        "name": result.frame.name,
        "verdict": result.verdict,
        "score": finite(result.score),
        "normalized": finite(result.normalized),
    }


@dataclass
class Reject:
    """A rejected frame: its facts, and its overlay until both JPEGs are encoded. The page asks for every
    thumbnail but for few full overlays, so each JPEG is encoded only when first asked for."""

    id: int
    facts: dict
    result: FrameResult | None
    overlay: np.ndarray | None
    jpeg: bytes = b""
    thumb: bytes = b""
    lock: threading.Lock = field(default_factory=threading.Lock)


class LiveState:
    """Fed by the output thread (`add`, which only stores references); read by the server's threads."""

    def __init__(self, threshold: float | None) -> None:
        self.threshold = threshold
        self.version = 0  # bumps on every result: the event stream sends only the newest state
        self.changed = threading.Condition()
        self.last_scored_at = 0.0  # time.monotonic() of the last scored frame, for /readyz
        self.counts = {"OK": 0, "NG": 0, "?": 0, "failed": 0, "missed": 0}  # every result the outputs saw
        self._latest: tuple[FrameResult, np.ndarray | None] | None = None
        self._trend: deque[float | None] = deque(maxlen=TREND)
        self._rejects: deque[Reject] = deque(maxlen=REJECTS)
        self._next_reject = 0
        self._frame = (-1, b"")  # (index, JPEG) of the newest encoded frame
        self._frame_at = 0.0
        self._encode = threading.Lock()

    def add(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        """One result from the outputs: cheap (no rendering, no encoding)."""
        with self.changed:
            kind = "missed" if result.missed else "failed" if result.error else result.verdict or "?"
            self.counts[kind] += 1
            if result.scored:
                self.last_scored_at = time.monotonic()
            if result.scored and result.frame.image is not None:
                self._latest = (result, overlay)
                self._trend.append(finite(result.score))
                if result.verdict == NG:
                    self._rejects.append(Reject(self._next_reject, describe(result), result, overlay))
                    self._next_reject += 1
            self.version += 1
            self.changed.notify_all()

    def touch(self) -> None:
        """Something beside the results changed (the run ended): wake the event streams."""
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def view(self) -> dict:
        """The newest frame's facts, the trend and the rejected frames, newest first."""
        with self.changed:
            latest = describe(self._latest[0]) if self._latest else None
            return {
                "version": self.version,
                "counts": dict(self.counts),
                "latest": latest,
                "trend": list(self._trend),
                "rejects": [{"id": r.id, **r.facts} for r in reversed(self._rejects)],
            }

    def frame_jpeg(self) -> tuple[int, bytes] | None:
        """(frame index, JPEG) of the newest frame's overlay; within FRAME_INTERVAL_S of the last encoding,
        that one. None before the first scored frame."""
        with self._encode:
            with self.changed:
                latest = self._latest
            if latest is None:
                return None
            result, overlay = latest
            due = time.monotonic() - self._frame_at >= FRAME_INTERVAL_S
            if result.frame.index != self._frame[0] and (due or not self._frame[1]):
                image = overlay if overlay is not None else render(result, self.threshold)
                self._frame, self._frame_at = (result.frame.index, encode_jpeg(image)), time.monotonic()
            return self._frame

    def reject_jpeg(self, reject_id: int, thumbnail: bool) -> bytes | None:
        """A kept rejected frame's overlay (or its thumbnail) as a JPEG; None when it is not kept."""
        with self.changed:
            reject = next((r for r in self._rejects if r.id == reject_id), None)
        if reject is None:
            return None
        with reject.lock:
            if reject.overlay is None and reject.result is not None:  # rendered once, on the first request
                reject.overlay, reject.result = render(reject.result, self.threshold), None
            if thumbnail and not reject.thumb:
                reject.thumb = encode_jpeg(reject.overlay, THUMB_WIDTH)
            elif not thumbnail and not reject.jpeg:
                reject.jpeg = encode_jpeg(reject.overlay)
            if reject.thumb and reject.jpeg:
                reject.overlay = None  # both encoded: only the JPEGs are kept
            return reject.thumb if thumbnail else reject.jpeg
