"""Where `padim-edge run` results go: JSON lines, rejected frames with their heatmap, an overlay video,
an optional window, and the live status line on stderr. All of it runs in the pipeline's output thread,
except the status line, which the command's main thread redraws."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from padim_edge.errors import UserError
from padim_edge.runtime.overlay import threshold_overlay
from padim_edge.runtime.pipeline import Result
from padim_edge.runtime.predictor import NG, map_to_frame

QUIT_KEYS = (ord("q"), 27)  # q or Esc in the window stops the run


def render(result: Result, resize: int, threshold: float | None) -> np.ndarray:
    """The frame with its heatmap (colour scale 0 .. 2x threshold, as `predict` writes) and verdict."""
    image = result.frame.image
    amap = map_to_frame(result.anomaly_map, image.shape[0], image.shape[1], resize)
    out = threshold_overlay(image, amap, threshold)
    value = result.score if result.normalized is None else result.normalized
    color = (0, 0, 255) if result.verdict == NG else (0, 200, 0)
    cv2.putText(out, f"{result.verdict} {value:.2f}", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, color, 2)
    return out


class JsonLines:
    """One JSON object per frame, flushed line by line ('-' writes to stdout)."""

    def __init__(self, path: Path) -> None:
        self._stdout = str(path) == "-"
        if not self._stdout:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = sys.stdout if self._stdout else open(path, "w", encoding="utf-8")

    def write(self, result: Result) -> None:
        self._file.write(json.dumps(result.as_dict()) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._stdout:
            self._file.close()


class RejectSaver:
    """For each NG frame: the frame itself (PNG, lossless) and its heatmap overlay (JPEG) in `folder`."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder

    def write(self, result: Result, overlay: np.ndarray) -> None:
        stem = f"{result.frame.index:08d}" + (f"_{Path(result.frame.name).stem}" if result.frame.name else "")
        for name, image in ((f"{stem}.png", result.frame.image), (f"{stem}_overlay.jpg", overlay)):
            if not cv2.imwrite(str(self.folder / name), image):
                raise UserError(f"{self.folder / name}: cannot write the image")


class OverlayVideo:
    """Every frame's overlay into an mp4 (mp4v), sized by the first frame; released on close so it plays."""

    def __init__(self, path: Path, fps: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.fps = path, fps
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] = (0, 0)

    def write(self, overlay: np.ndarray) -> None:
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


class Window:
    """cv2.imshow of each overlay; q or Esc calls `on_quit`. Without a display it warns once and does nothing."""

    def __init__(self, on_quit: Callable[[], None], warn: Callable[[str], None]) -> None:
        self.on_quit, self.warn = on_quit, warn
        self.enabled = sys.platform != "linux" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if not self.enabled:
            warn("--show: no display (DISPLAY is not set); running without a window")

    def write(self, overlay: np.ndarray) -> None:
        if not self.enabled:
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


class Outputs:
    """The pipeline's sink: every requested output for each result, the overlay rendered once per frame."""

    def __init__(
        self,
        resize: int,
        threshold: float | None,
        results: Path | None = None,
        save_ng: Path | None = None,
        video: Path | None = None,
        video_fps: float = 30.0,
        window: Window | None = None,
    ) -> None:
        self.resize, self.threshold = resize, threshold
        self.json = JsonLines(results) if results else None
        self.rejects = RejectSaver(save_ng) if save_ng else None
        self.video = OverlayVideo(video, video_fps) if video else None
        self.window = window

    @property
    def needs_images(self) -> bool:
        """Whether frames and maps must travel to the output thread (any overlay output)."""
        return bool(self.rejects or self.video or self.window)

    def write(self, result: Result) -> None:
        if self.json:
            self.json.write(result)
        if result.error:  # missed (no score, no map): the JSON line is all there is
            return
        rejected = self.rejects is not None and result.verdict == NG
        if not (rejected or self.video or (self.window and self.window.enabled)):
            return
        overlay = render(result, self.resize, self.threshold)
        if rejected:
            self.rejects.write(result, overlay)
        if self.video:
            self.video.write(overlay)
        if self.window:
            self.window.write(overlay)

    def close(self) -> None:
        for output in (self.json, self.video, self.window):
            if output:
                output.close()


class StatusLine:
    """A carriage-return status line on stderr (only on a terminal); `log` prints a message above it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._lock = threading.Lock()
        self._shown = False

    def update(self, snapshot: dict) -> None:
        if not self.enabled:
            return
        s = snapshot
        text = (
            f"{s['frames']} frames  {s['fps']:.1f} fps  latency p50 {s['p50_ms']:.0f} ms p99 {s['p99_ms']:.0f} ms  "
            f"dropped {s['dropped']}  rejected {s['rejected']}" + (f"  missed {s['missed']}" if s.get("missed") else "")
        )
        with self._lock:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._shown = True

    def log(self, message: str) -> None:
        with self._lock:
            self.stream.write(("\r\033[K" if self._shown else "") + message + "\n")
            self.stream.flush()
            self._shown = False

    def clear(self) -> None:
        with self._lock:
            if self._shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self._shown = False
