"""Overlay PNG files: every frame's (`predict --overlay-dir`) or only rejected frames' (`run --save-ng`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from padim_edge.errors import UserError
from padim_edge.runtime.predictor import NG
from padim_edge.runtime.results import FrameResult
from padim_edge.storage.atomic import atomic_write, clean_stale


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
    The first write into a subfolder removes what a killed run left there (storage.atomic.clean_stale).
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
