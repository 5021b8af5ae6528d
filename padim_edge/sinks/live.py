"""The live page's feed (`run --http`): hands each result to the live server's view."""

from __future__ import annotations

import numpy as np

from padim_edge.live.view import RunView
from padim_edge.runtime.results import FrameResult


class LiveFeed:
    """Stores a reference to each result for the live page and counts it for /metrics; never renders or
    encodes here (the server does, on request, at a bounded rate), so the output thread is not slowed.
    Needs images: the page shows the newest frame's overlay and the last rejected ones."""

    needs_images = True

    def __init__(self, view: RunView) -> None:
        self.view = view

    def wants_overlay(self, result: FrameResult) -> bool:
        return False  # one another output renders anyway is reused; otherwise the server renders on request

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        self.view.add(result, overlay)

    def close(self) -> None:
        pass
