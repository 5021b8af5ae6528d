"""Frames of two real parts side by side: wide frames made from the square images at hand."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CELLS_INPUT = 128  # the cells model's shorter side: small, so the session's fit and export take seconds


def side_by_side(left: Path, right: Path) -> np.ndarray:
    """Two images next to each other, the right one resized to the left one's height."""
    a, b = cv2.imread(str(left)), cv2.imread(str(right))
    b = cv2.resize(b, (round(b.shape[1] * a.shape[0] / b.shape[0]), a.shape[0]))
    return np.concatenate([a, b], axis=1)


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path
