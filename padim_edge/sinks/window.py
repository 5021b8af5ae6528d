"""An OpenCV window of the overlays (`--show`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import cv2
import numpy as np

from padim_edge.runtime.results import FrameResult

QUIT_KEYS = (ord("q"), 27)  # q or Esc in the window stops the run


class Window:
    """cv2.imshow of each overlay; q or Esc calls `on_quit`. Without a display it warns once and does nothing."""

    needs_images = True

    def __init__(self, on_quit: Callable[[], None], warn: Callable[[str], None]) -> None:
        self.on_quit, self.warn = on_quit, warn
        self.enabled = sys.platform != "linux" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if not self.enabled:
            warn("--show: no display (DISPLAY is not set); running without a window")

    def wants_overlay(self, result: FrameResult) -> bool:
        return self.enabled and result.scored

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        if overlay is None or not self.enabled:
            return
        try:
            cv2.imshow("padim-edge", overlay)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error:
            self.enabled = False
            self.warn("--show: this OpenCV has no GUI support (opencv-python-headless); running without a window")
            return
        if key in QUIT_KEYS:
            self.on_quit()

    def close(self) -> None:
        if self.enabled:
            cv2.destroyAllWindows()
