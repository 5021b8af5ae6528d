"""Where `predict` and `run` results go: JSON lines, a table, heatmap overlays of every frame or of rejected
frames, an overlay video, an optional window, and the live status line on stderr. All of it runs in the
pipeline's output thread, except the status line, which the command's main thread redraws."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TextIO

import cv2
import numpy as np

from padim_edge.contract.files import atomic_write, clean_stale
from padim_edge.errors import UserError
from padim_edge.imaging.overlay import verdict_overlay
from padim_edge.runtime.predictor import NG
from padim_edge.runtime.results import FrameResult

QUIT_KEYS = (ord("q"), 27)  # q or Esc in the window stops the run


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


def frame_stem(result: FrameResult) -> Path:
    """A relative file stem per frame: the image's relative path without suffix, or the frame index."""
    return Path(result.frame.name).with_suffix("") if result.frame.name else Path(f"{result.frame.index:08d}")


def write_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise UserError(f"{path}: cannot encode the image")
    atomic_write(path, data.tobytes())


class PngFolder:
    """PNG files under `folder`, each written whole (atomic_write), never two of one run on one name.

    Files are named by the frame's relative path, so `a/x.png` and `b/x.png` stay apart; when two inputs
    differ only by suffix (x.png, x.jpg), the later one keeps its suffix in the name (x.jpg_overlay.png).
    The first write into a subfolder removes what a killed run left there (contract.files.clean_stale).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._used: set[Path] = set()
        self._ready: set[Path] = set()

    def stem(self, result: FrameResult) -> Path:
        """The frame's stem, unique in this run (frames without a file name are unique by index)."""
        stem = frame_stem(result)
        if not result.frame.name:
            return stem
        if stem in self._used:
            stem = Path(result.frame.name)
        base, n = stem, 1
        while stem in self._used:  # ends: each try is a new name, and _used is finite
            stem, n = base.with_name(f"{base.name}-{n}"), n + 1
        self._used.add(stem)
        return stem

    def write(self, relative: Path, image: np.ndarray) -> None:
        path = self.folder / relative
        if path.parent not in self._ready:
            path.parent.mkdir(parents=True, exist_ok=True)
            clean_stale(path.parent)
            self._ready.add(path.parent)
        write_png(path, image)


class JsonLines:
    """One JSON object per frame (docs/results.md), flushed line by line; '-' writes to stdout."""

    needs_images = False

    def __init__(self, path: Path) -> None:
        self._stdout = str(path) == "-"
        self._file: TextIO = sys.stdout if self._stdout else open(path, "w", encoding="utf-8")  # noqa: SIM115

    def wants_overlay(self, result: FrameResult) -> bool:
        return False

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        self._file.write(json.dumps(result.as_json(), allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._stdout:
            self._file.close()


class Table:
    """`predict`'s human-readable lines: verdict, score, normalised score, name (errors say why)."""

    needs_images = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def wants_overlay(self, result: FrameResult) -> bool:
        return False

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        name = result.frame.name or str(result.frame.index)
        if result.error:
            line = f"{'-':2}  {'-':>10}  {'-':>7}  {name}  ({result.error})"
        else:
            norm = "-" if result.normalized is None else f"{result.normalized:.3f}"
            line = f"{result.verdict:2}  {result.score:10.4f}  {norm:>7}  {name}"
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class OverlayFolder:
    """Every scored frame's overlay as `<folder>/<relative name>_overlay.png` (see PngFolder)."""

    needs_images = True

    def __init__(self, folder: Path) -> None:
        self.pngs = PngFolder(folder)

    def wants_overlay(self, result: FrameResult) -> bool:
        return result.scored

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        if overlay is not None:
            stem = self.pngs.stem(result)
            self.pngs.write(stem.with_name(stem.name + "_overlay.png"), overlay)

    def close(self) -> None:
        pass


class RejectSaver:
    """For each NG frame: the frame itself and its heatmap overlay, both PNG, in `folder`."""

    needs_images = True

    def __init__(self, folder: Path) -> None:
        self.pngs = PngFolder(folder)

    def wants_overlay(self, result: FrameResult) -> bool:
        return result.scored and result.verdict == NG

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        if overlay is not None:
            stem = self.pngs.stem(result)
            self.pngs.write(stem.with_name(stem.name + ".png"), result.frame.image)
            self.pngs.write(stem.with_name(stem.name + "_overlay.png"), overlay)

    def close(self) -> None:
        pass


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
            f"dropped {s['dropped']}  rejected {s['rejected']}" + (f"  missed {s['missed']}" if s["missed"] else "")
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
