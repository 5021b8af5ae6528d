"""The pipeline's outputs: the `Sink` protocol every output follows, the overlay they share, and the fan-out
(`Outputs`) that renders each frame's overlay at most once. One file per kind of sink beside this one."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from padim_edge.imaging.overlay import verdict_overlay
from padim_edge.runtime.results import FrameResult


class Sink(Protocol):
    """One kind of output. `needs_images`: frames and maps must travel to the output thread for it."""

    needs_images: bool

    def wants_overlay(self, result: FrameResult) -> bool: ...

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None: ...

    def close(self) -> None: ...


def render(result: FrameResult, threshold: float | None) -> np.ndarray:
    """The frame with its heatmap placed back onto the whole frame (scale 0 .. 2x threshold) and its verdict."""
    amap = np.nan_to_num(result.placement.to_frame(result.anomaly_map), nan=0.0, posinf=0.0, neginf=0.0)
    value = result.score if result.normalized is None else result.normalized
    return verdict_overlay(result.frame.image, amap, threshold, result.verdict or "?", value)


class Outputs:
    """The pipeline's sink: every output for each result, the overlay rendered at most once per frame."""

    def __init__(self, sinks: list[Sink], threshold: float | None) -> None:
        self.sinks, self.threshold = sinks, threshold

    @property
    def needs_images(self) -> bool:
        """Whether frames and maps must travel to the output thread (any overlay output)."""
        return any(sink.needs_images for sink in self.sinks)

    def write(self, result: FrameResult) -> None:
        wanted = any(sink.wants_overlay(result) for sink in self.sinks)
        overlay = render(result, self.threshold) if wanted and result.frame.image is not None else None
        for sink in self.sinks:
            sink.write(result, overlay)

    def close(self) -> None:
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # close every sink, then report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]
