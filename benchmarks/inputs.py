"""The inputs every timed model gets: the same real screw test images, prepared the way each graph expects,
saved once as .npy files (no pickle) that the timing processes load."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmarks.paths import CACHE, CATEGORY
from padim_edge.data import evenly_spaced, load_dataset
from padim_edge.imaging.decode import read_image
from padim_edge.imaging.geometry import Geometry

FOLDER = CACHE / "inputs"


def screw_frames(data_root: Path, count: int) -> list[np.ndarray]:
    """`count` evenly spaced screw test images, original size, uint8 BGR."""
    samples = load_dataset("mvtec", data_root, CATEGORY).test
    return [read_image(s.path) for s in evenly_spaced(samples, count)]


def padim_frames(frames: list[np.ndarray], geometry: Geometry) -> np.ndarray:
    """uint8 BGR [N, H, W, 3], each frame placed by the model's geometry (what `padim-edge run` feeds)."""
    return np.stack([geometry.prepare(f)[0] for f in frames])


def float_rgb(frames: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """float32 RGB [N, 3, H, W] in [0, 1] (anomalib's `read_image` convention), resized to H x W."""
    out = []
    for frame in frames:
        shrink = frame.shape[0] >= height and frame.shape[1] >= width
        resized = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        out.append(resized[:, :, ::-1].transpose(2, 0, 1))
    return np.stack(out).astype(np.float32) / 255.0


def save(array: np.ndarray, name: str) -> Path:
    """Write `array` to results/cache/inputs/NAME.npy and return the path."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    path = FOLDER / f"{name}.npy"
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)
    return path
