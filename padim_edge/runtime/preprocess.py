"""Image decoding and the resize / centre-crop shared by fit, export and the runtime (numpy + OpenCV only).

Training and deployment call the same functions, so a frame is prepared identically on the workstation
and on the device; everything after this (cast, scale, normalisation, layout) happens inside the graph.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from padim_edge.errors import UserError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` (by extension, hidden files skipped), sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def to_bgr8(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Convert a decoded image (gray, BGR, BGRA; 8 or 16 bit) to contiguous uint8 BGR, HxWx3."""
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)  # 65535 -> 255 exactly
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(image * 255.0 if image.max() <= 1.0 else image, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise UserError(f"{source}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise UserError(f"{source}: expected 1, 3 or 4 channels, got shape {tuple(image.shape)}")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 BGR; raise UserError naming the file when it cannot be decoded."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    if data is None:
        raise UserError(f"{path}: no such image file")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise UserError(f"{path}: not a readable image")
    return to_bgr8(image, str(path))


def read_mask(path: str | Path | None, shape: tuple[int, int]) -> np.ndarray:
    """Read a ground-truth mask as bool HxW; an absent mask (good image) is all False."""
    if path is None:
        return np.zeros(shape, dtype=bool)
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise UserError(f"{path}: not a readable mask")
    return mask > 0


def resize_center_crop(image: np.ndarray, resize: int, crop: int, interpolation: int | None = None) -> np.ndarray:
    """Resize so the shorter side is `resize`, then cut the centred `crop` x `crop` square.

    Shrinking uses area interpolation (no aliasing), enlarging bilinear; masks pass INTER_NEAREST.
    """
    h, w = image.shape[:2]
    scale = resize / min(h, w)
    nh, nw = max(crop, round(h * scale)), max(crop, round(w * scale))
    if interpolation is None:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    if (nh, nw) != (h, w):
        image = cv2.resize(image, (nw, nh), interpolation=interpolation)
    top, left = (nh - crop) // 2, (nw - crop) // 2
    return image[top : top + crop, left : left + crop]


def crop_box(height: int, width: int, resize: int, crop: int) -> tuple[int, int, int, int]:
    """The crop window in original-image pixels: (top, left, bottom, right), for mapping maps back."""
    scale = resize / min(height, width)
    nh, nw = max(crop, round(height * scale)), max(crop, round(width * scale))
    top, left = (nh - crop) // 2, (nw - crop) // 2
    return (
        round(top / scale),
        round(left / scale),
        round((top + crop) / scale),
        round((left + crop) / scale),
    )


def prepare_batch(frames: list[np.ndarray], resize: int, crop: int) -> np.ndarray:
    """Stack BGR frames of any size into the graph's input: uint8 [N, crop, crop, 3]."""
    return np.stack([resize_center_crop(to_bgr8(f), resize, crop) for f in frames])
