"""Every scored frame's overlay into an mp4 file (`run --overlay-video`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from padim_edge.errors import UserError
from padim_edge.runtime.results import FrameResult


class OverlayVideo:
    """Every scored frame's overlay into an mp4 (mp4v), sized by the first frame; released on close."""

    needs_images = True

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] = (0, 0)

    def wants_overlay(self, result: FrameResult) -> bool:
        return result.scored

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        if overlay is None:
            return
        if self._writer is None:
            self._size = (overlay.shape[1], overlay.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                raise UserError(f"{self.path}: OpenCV cannot write an mp4v video here")
        if (overlay.shape[1], overlay.shape[0]) != self._size:
            overlay = cv2.resize(overlay, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(overlay)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
