"""Image files to uint8 BGR arrays, with size limits checked from the header before anything is decoded.

A 1 MB PNG can declare 20000 x 20000 pixels and take gigabytes to decode; `imagesize` reads the declared
size from the header alone (OpenCV has no header-only read), so such a file is refused in microseconds.
PNG chunk checksums are verified before decoding, because libpng prints its own complaint to stderr
about a corrupt chunk, ahead of padim-edge's one-line error; OpenCV's own log is silenced for the
same reason (padim-edge reports every unreadable file itself).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import imagesize
import numpy as np

from padim_edge.errors import UserError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
#: Largest image accepted by default, in pixels (width x height): 100 MP covers industrial cameras up to
#: ~12k x 8k, and decodes to 300 MB of BGR. `PADIM_EDGE_MAX_PIXELS` raises or lowers it.
MAX_PIXELS = 100_000_000
MAX_PIXELS_ENV = "PADIM_EDGE_MAX_PIXELS"
#: Largest image file read (1 GiB): far above any 100 MP image, even uncompressed.
MAX_FILE_BYTES = 1 << 30
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# padim-edge reports failures itself: OpenCV's own log is silenced (OpenCV 4 and 5 spell it differently).
_set_log_level = getattr(cv2, "setLogLevel", None) or cv2.utils.logging.setLogLevel
_set_log_level(0)  # LOG_LEVEL_SILENT


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` (by extension, hidden files skipped), sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def max_pixels() -> int:
    """The pixel limit: $PADIM_EDGE_MAX_PIXELS when set (a positive integer), else MAX_PIXELS."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(f"{MAX_PIXELS_ENV}={text}: expected a positive number of pixels, e.g. 100000000")
    return value


def check_pixels(height: int, width: int, source: str) -> None:
    """Refuse an image past the pixel limit, or one without pixels."""
    if height < 1 or width < 1:
        raise UserError(f"{source}: image has no pixels ({width}x{height})")
    limit = max_pixels()
    if height * width > limit:
        raise UserError(
            f"{source}: image is {width}x{height} = {_megapixels(height * width)} MP, over the limit of "
            f"{_megapixels(limit)} MP (set {MAX_PIXELS_ENV} to raise it)"
        )


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f}" if pixels >= 10_000_000 else f"{pixels / 1e6:.2g}"


def image_size(path: Path) -> tuple[int, int] | None:
    """(height, width) declared by the file's header, or None where the format's header is not known."""
    try:
        width, height = imagesize.get(str(path))
    except (OSError, ValueError, struct.error):
        return None
    return (int(height), int(width)) if width > 0 and height > 0 else None


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 BGR HxWx3; any reason it cannot be used is a UserError naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UserError(f"{path}: no such image file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror})") from None
    if not path.is_file():
        raise UserError(f"{path}: not a file")
    if size > MAX_FILE_BYTES:
        raise UserError(f"{path}: {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES >> 20} MiB limit for one image")
    declared = image_size(path)
    if declared is not None:
        check_pixels(*declared, str(path))
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror})") from None
    return decode_image(data, str(path))


def decode_image(data: np.ndarray, source: str) -> np.ndarray:
    """Decode encoded image bytes (uint8 1-D) as uint8 BGR HxWx3."""
    if data.size == 0:
        raise UserError(f"{source}: empty file")
    if data[:8].tobytes() == _PNG_SIGNATURE and not _png_intact(data.tobytes()):
        raise UserError(f"{source}: not a readable image (truncated or corrupt PNG)")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        raise UserError(f"{source}: not a readable image")
    check_pixels(image.shape[0], image.shape[1], source)
    return to_bgr8(image, source)


def _png_intact(data: bytes) -> bool:
    """Every chunk complete with a matching CRC, up to IEND (the PNG format's own integrity check)."""
    offset = 8
    while offset + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        end = offset + 12 + length
        if end > len(data):
            return False
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[offset + 4 : end - 4]) != crc:
            return False
        if kind == b"IEND":
            return True
        offset = end
    return False


def to_bgr8(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Convert a decoded image (gray, BGR, BGRA; 8 or 16 bit; float) to contiguous uint8 BGR, HxWx3."""
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)  # 65535 -> 255 exactly
    elif image.dtype in (np.float32, np.float64):
        finite = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
        image = np.clip(finite * 255.0 if finite.max(initial=0.0) <= 1.0 else finite, 0, 255).astype(np.uint8)
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
