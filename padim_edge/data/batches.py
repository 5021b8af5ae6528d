"""Decode samples into batches of the model's input, keeping where each frame went (and, on request, the
original frames and their ground-truth masks at full resolution)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from padim_edge.data.samples import Sample
from padim_edge.errors import UserError
from padim_edge.imaging.decode import image_size, read_image
from padim_edge.imaging.geometry import Geometry, Placement

MAX_WORKERS = 2
Skip = Callable[[str], None]


@dataclass
class Batch:
    """images: uint8 [B, H, W, 3] BGR model input; per sample its placement, and on request the original
    frame and its bool mask (all False for good images), both at the frame's own resolution."""

    images: np.ndarray
    samples: list[Sample]
    placements: list[Placement]
    frames: list[np.ndarray] | None = None
    masks: list[np.ndarray] | None = None


@dataclass
class _Decoded:
    image: np.ndarray
    placement: Placement
    frame: np.ndarray | None
    mask: np.ndarray | None


def read_mask(path: str | None, shape: tuple[int, int]) -> np.ndarray:
    """A ground-truth mask as bool [h, w] at the image's resolution; an absent mask (good image) is all False.
    Read like any image (imaging.decode: size limits checked from the header, corrupt files refused)."""
    if path is None:
        return np.zeros(shape, dtype=bool)
    mask = read_image(path).max(axis=2)
    if mask.shape != shape:
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask > 0


def _decode(sample: Sample, geometry: Geometry, keep_frame: bool, with_mask: bool) -> _Decoded | str:
    """The prepared image (with frame and mask as asked), or the error message when a file cannot be read."""
    try:
        frame = read_image(sample.path)
        mask = read_mask(sample.mask_path, frame.shape[:2]) if with_mask else None
    except UserError as error:
        return str(error)
    image, placement = geometry.prepare(frame)
    return _Decoded(image, placement, frame if keep_frame else None, mask)


def iter_batches(
    samples: list[Sample],
    batch_size: int,
    geometry: Geometry,
    keep_frames: bool = False,
    with_masks: bool = False,
    on_skip: Skip | None = None,
) -> Iterator[Batch]:
    """Yield batches in sample order, decoding the next batch in threads while this one is used.

    Unreadable images (or masks) are skipped and reported through `on_skip` (default: a warning), so a
    batch may hold fewer than `batch_size` samples.
    """
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    skip = on_skip or (lambda message: warnings.warn(message, stacklevel=3))
    chunks = [samples[i : i + batch_size] for i in range(0, len(samples), batch_size)]
    with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:

        def submit(chunk: list[Sample]) -> list[Future[_Decoded | str]]:
            return [pool.submit(_decode, s, geometry, keep_frames, with_masks) for s in chunk]

        pending = submit(chunks[0]) if chunks else []
        for index, chunk in enumerate(chunks):
            decoded = [future.result() for future in pending]
            if index + 1 < len(chunks):
                pending = submit(chunks[index + 1])
            kept = []
            for sample, result in zip(chunk, decoded):
                if isinstance(result, str):
                    skip(f"skipped unreadable file: {result}")
                else:
                    kept.append((sample, result))
            if kept:
                yield Batch(
                    np.stack([r.image for _, r in kept]),
                    [s for s, _ in kept],
                    [r.placement for _, r in kept],
                    [r.frame for _, r in kept] if keep_frames else None,
                    [r.mask for _, r in kept] if with_masks else None,
                )


def frame_sizes(samples: list[Sample], limit: int = 64) -> list[tuple[int, int]]:
    """(h, w) of up to `limit` evenly spaced samples, from their headers (decoded where a header is unknown)."""
    sizes = []
    for sample in evenly_spaced(samples, limit):
        size = image_size(sample.path)
        if size is None:
            try:
                size = read_image(sample.path).shape[:2]
            except UserError:
                continue
        sizes.append(size)
    return sizes


def evenly_spaced(items: list, count: int) -> list:
    """`count` items spread evenly over the list (all of them when it is shorter), in order."""
    if count >= len(items):
        return list(items)
    if count <= 1:
        return items[:count]
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]
