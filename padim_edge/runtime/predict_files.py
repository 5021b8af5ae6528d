"""`padim-edge predict`: score image files in batches, yield one JSON-ready dict per image."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from padim_edge.config import atomic_write
from padim_edge.errors import UserError
from padim_edge.runtime.overlay import threshold_overlay
from padim_edge.runtime.predictor import Predictor
from padim_edge.runtime.preprocess import list_images, read_image


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given, folders as their images (sorted); a missing path or an empty folder is an error."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found = list_images(item)
            if not found:
                raise UserError(f"{item}: no images in this folder")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise UserError(f"{item}: no such file or folder")
    return files


def predict_files(
    model: Path,
    inputs: list[Path],
    threshold: float | None = None,
    overlay_dir: Path | None = None,
    batch: int = 8,
    threads: int | None = None,
) -> Iterator[dict]:
    """Score every image; with `overlay_dir`, also write `<stem>_overlay.png` heatmaps there."""
    predictor = Predictor.open(model, threshold, threads=threads)
    files = expand_inputs(inputs)
    for start in range(0, len(files), batch):
        chunk = files[start : start + batch]
        frames = [read_image(path) for path in chunk]
        for path, frame, result in zip(chunk, frames, predictor.predict(frames, original_size=True)):
            if overlay_dir is not None:
                _write_overlay(overlay_dir / f"{path.stem}_overlay.png", frame, result.anomaly_map, predictor.threshold)
            yield {"path": str(path), **result.as_dict()}


def _write_overlay(path: Path, frame: np.ndarray, amap: np.ndarray, threshold: float | None) -> None:
    ok, data = cv2.imencode(".png", threshold_overlay(frame, amap, threshold))
    if not ok:
        raise UserError(f"{path}: cannot encode the overlay")
    atomic_write(path, data.tobytes())
