"""Real damaged and hostile image files, made from real images: what a disk, a camera or an attacker hands
over."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def header_bomb(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A real PNG header declaring `width` x `height` RGB pixels, then a truncated IDAT: a few hundred bytes
    that would decode to gigabytes (every header field and CRC valid, as imagesize and libpng see them)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + 3 * width) * 64)
    idat = struct.pack(">I", 1 << 20) + b"IDAT" + rows[:200]  # declares 1 MiB, holds 200 bytes
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + idat)
    return path


def truncated(source: Path, path: Path, fraction: float = 0.5) -> Path:
    """The first `fraction` of a real file, as a copy cut off mid-transfer."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def bad_crc(source: Path, path: Path) -> Path:
    """A real PNG with one byte of its first IDAT flipped (length intact, CRC now wrong)."""
    data = bytearray(source.read_bytes())
    at = data.index(b"IDAT") + 4 + 100
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def sparse_file(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no disk space (a hole)."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def reencoded(source: Path, path: Path, transform: str) -> Path:
    """A real image made into an odd but valid one: `thin` (1 x 5000), `tall` (5000 x 1), `gray16`
    (16-bit grayscale), `rgba` (with alpha), `dot` (1 x 1)."""
    image = cv2.imread(str(source))
    if transform == "thin":
        image = cv2.resize(image, (5000, 1), interpolation=cv2.INTER_AREA)
    elif transform == "tall":
        image = cv2.resize(image, (1, 5000), interpolation=cv2.INTER_AREA)
    elif transform == "gray16":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    elif transform == "rgba":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    elif transform == "dot":
        image = image[:1, :1]
    assert cv2.imwrite(str(path), image)
    return path
