"""What a fit records of its training frames (sizes and pixel layout), and the check an update's images pass
against it: new images must be shaped and coloured like the ones the statistics came from."""

from __future__ import annotations

import numpy as np

from padim_edge.contract.schema import ModelConfig
from padim_edge.data.batches import evenly_spaced
from padim_edge.data.samples import Sample
from padim_edge.errors import UserError
from padim_edge.imaging.decode import image_size, read_image

SIZE_SAMPLES = 64  # headers only: cheap
LAYOUT_SAMPLES = 8  # decoded


def frame_size(sample: Sample) -> tuple[int, int] | None:
    """(H, W) from the header, else from the decoded image; None when unreadable (skipped later anyway)."""
    size = image_size(sample.path)
    if size is None:
        try:
            size = read_image(sample.path).shape[:2]
        except UserError:
            return None
    return int(size[0]), int(size[1])


def frame_layout(samples: list[Sample]) -> str:
    """'gray' when every decoded pixel of a spread of the images has equal B, G and R, 'color' when none
    does, else 'mixed' (unreadable images are left out)."""
    gray = set()
    for sample in evenly_spaced(samples, LAYOUT_SAMPLES):
        try:
            image = read_image(sample.path)
        except UserError:
            continue
        gray.add(bool(np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])))
    return {frozenset({True}): "gray", frozenset({False}): "color"}.get(frozenset(gray), "mixed")


def record_frames(samples: list[Sample]) -> tuple[list[list[int]], str]:
    """The distinct sizes (sorted [H, W] lists) of a spread of the images, and their layout."""
    sizes = {frame_size(s) for s in evenly_spaced(samples, SIZE_SAMPLES)} - {None}
    return [list(size) for size in sorted(sizes)], frame_layout(samples)


def check_frames(samples: list[Sample], config: ModelConfig, source: str) -> None:
    """Refuse, in one line naming an image, new images of a size or layout the run was not fitted on."""
    known = {tuple(size) for size in config.frame_sizes}
    for sample in evenly_spaced(samples, SIZE_SAMPLES):
        size = frame_size(sample)
        if size is not None and known and size not in known:
            fitted = ", ".join(f"{h}x{w}" for h, w in sorted(known))
            raise UserError(f"{sample.path}: a {size[0]}x{size[1]} image; {source} was fitted on {fitted} (H x W)")
    layout = frame_layout(samples)
    if config.frame_layout not in ("", "mixed") and layout != config.frame_layout:
        raise UserError(f"{source}: fitted on {config.frame_layout} images, these are {layout}")
