"""Decode samples into fixed-size uint8 BGR batches, with aligned ground-truth masks on request."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from padim_edge.data.samples import Sample
from padim_edge.errors import UserError
from padim_edge.runtime.preprocess import read_image, read_mask, resize_center_crop

MAX_WORKERS = 2

Decoded = tuple[np.ndarray, np.ndarray | None] | str


@dataclass
class Batch:
    """images: uint8 [B, crop, crop, 3] BGR; masks: bool [B, crop, crop] or None; samples: the B sources."""

    images: np.ndarray
    samples: list[Sample]
    masks: np.ndarray | None = None


def _decode(sample: Sample, resize: int, crop: int, with_mask: bool) -> Decoded:
    """The prepared image (and mask), or the error message when a file cannot be read."""
    try:
        image = read_image(sample.path)
        mask = read_mask(sample.mask_path, image.shape[:2]) if with_mask else None
    except UserError as error:
        return str(error)
    prepared = resize_center_crop(image, resize, crop)
    if mask is None:
        return prepared, None
    mask = mask.astype(np.uint8)
    if mask.shape != image.shape[:2]:
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    return prepared, resize_center_crop(mask, resize, crop, interpolation=cv2.INTER_NEAREST) > 0


def _assemble(chunk: list[Sample], decoded: list[Decoded], with_masks: bool) -> Batch | None:
    """Stack the readable samples of one chunk, warning about each skipped file."""
    kept = []
    for sample, result in zip(chunk, decoded):
        if isinstance(result, str):
            warnings.warn(f"skipped unreadable file: {result}", stacklevel=3)
        else:
            kept.append((sample, result))
    if not kept:
        return None
    images = np.stack([image for _, (image, _) in kept])
    masks = np.stack([mask for _, (_, mask) in kept]) if with_masks else None
    return Batch(images, [sample for sample, _ in kept], masks)


def iter_batches(
    samples: list[Sample], batch_size: int, resize: int, crop: int, with_masks: bool = False
) -> Iterator[Batch]:
    """Yield batches in sample order, decoding the next batch in threads while this one is used.

    Unreadable images (or masks) are skipped with a warning, so a batch may hold fewer than
    `batch_size` samples. Masks of samples without mask_path are all False.
    """
    if batch_size < 1 or crop < 1 or resize < crop:
        raise UserError(f"need batch_size >= 1 and resize >= crop >= 1, got {batch_size}, {resize}, {crop}")
    chunks = [samples[i : i + batch_size] for i in range(0, len(samples), batch_size)]
    with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:

        def submit(chunk: list[Sample]) -> list[Future[Decoded]]:
            return [pool.submit(_decode, s, resize, crop, with_masks) for s in chunk]

        pending = submit(chunks[0]) if chunks else []
        for index, chunk in enumerate(chunks):
            decoded = [future.result() for future in pending]
            if index + 1 < len(chunks):
                pending = submit(chunks[index + 1])
            batch = _assemble(chunk, decoded, with_masks)
            if batch is not None:
                yield batch
