"""Image files to BGR arrays: formats, corrupt files, and the pixel limit read from the header."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from padim_edge.errors import UserError
from padim_edge.imaging.decode import MAX_PIXELS, image_size, read_image, to_bgr8


def png_header(path: Path, width: int, height: int) -> Path:
    """A real PNG signature and IHDR chunk declaring width x height, then a truncated IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))[:-30])
    return path


def test_an_oversized_image_is_refused_from_its_header(tmp_path: Path) -> None:
    path = png_header(tmp_path / "huge.png", 20000, 20000)
    assert image_size(path) == (20000, 20000)
    with pytest.raises(UserError, match=r"huge.png: image is 20000x20000 = 400 MP, over the limit of 100 MP"):
        read_image(path)
    assert MAX_PIXELS == 100_000_000


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp"])
def test_formats_decode_to_bgr8(tmp_path: Path, suffix: str) -> None:
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    path = tmp_path / f"x{suffix}"
    assert cv2.imwrite(str(path), image)
    out = read_image(path)
    assert out.shape == (37, 53, 3) and out.dtype == np.uint8
    assert image_size(path) == (37, 53)


def test_truncated_and_corrupt_files_name_the_file(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    ok, data = cv2.imencode(".png", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = data.tobytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    cases = {"trunc.png": data[: len(data) // 2], "crc.png": bytes(flipped), "text.png": b"hello", "empty.png": b""}
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(UserError, match=name):
            read_image(tmp_path / name)
    assert capfd.readouterr().err == ""  # neither libpng nor OpenCV printed anything of their own
    with pytest.raises(UserError, match="no such image file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(UserError, match="not a file"):
        read_image(tmp_path)


def test_pixel_types_and_channels() -> None:
    gray16 = np.full((4, 5), 65535, np.uint16)
    assert (to_bgr8(gray16) == 255).all() and to_bgr8(gray16).shape == (4, 5, 3)
    assert to_bgr8(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    assert to_bgr8(np.full((4, 5), np.nan, np.float32)).max() == 0
    with pytest.raises(UserError, match="expected 1, 3 or 4 channels"):
        to_bgr8(np.zeros((8, 8, 2), np.uint8), "two.png")
    with pytest.raises(UserError, match="unsupported pixel type"):
        to_bgr8(np.zeros((8, 8), np.int32))
