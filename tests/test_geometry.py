"""Where a frame goes in the model's input and how maps go back onto the whole original frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from padim_edge.errors import UserError
from padim_edge.imaging.geometry import Geometry, default_input_hw, parse_input_size

FRAMES = {"16:9": (720, 1280), "4:3": (480, 640)}
MODEL = (224, 304)  # a model input that matches neither frame's aspect ratio


def marked_frame(h: int, w: int, points: list[tuple[int, int]]) -> np.ndarray:
    """A black frame with a white dot of radius 6 at each (x, y)."""
    frame = np.zeros((h, w, 3), np.uint8)
    for x, y in points:
        cv2.circle(frame, (x, y), 6, (255, 255, 255), -1)
    return frame


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "crop"])
@pytest.mark.parametrize("aspect", list(FRAMES))
def test_points_land_where_the_matrix_says_and_map_back(mode: str, aspect: str) -> None:
    h, w = FRAMES[aspect]
    point = (w // 2 + 37, h // 2 - 23)  # off-centre, inside every mode's view
    tensor, placement = Geometry(*MODEL, mode).prepare(marked_frame(h, w, [point]))
    assert tensor.shape == (*MODEL, 3) and tensor.dtype == np.uint8
    expected = placement.matrix @ np.array([*point, 1.0])
    assert centroid(tensor[:, :, 0] > 127) == pytest.approx(tuple(expected), abs=0.75)
    # A map that is the prepared frame itself must land back on the original dot, at the frame's size.
    back = placement.to_frame(tensor[:, :, 0].astype(np.float32))
    assert back.shape == (h, w)
    assert centroid(back > 127) == pytest.approx(point, abs=1.5)


@pytest.mark.parametrize("aspect", list(FRAMES))
def test_stretch_and_letterbox_see_the_whole_frame_crop_does_not(aspect: str) -> None:
    h, w = FRAMES[aspect]
    corners = [(8, 8), (w - 9, 8), (8, h - 9), (w - 9, h - 9)]
    frame = marked_frame(h, w, corners)
    for mode in ("stretch", "letterbox"):
        tensor, placement = Geometry(*MODEL, mode).prepare(frame)
        assert placement.covers_frame
        n_dots = cv2.connectedComponents((tensor[:, :, 0] > 60).astype(np.uint8))[0] - 1
        assert n_dots == 4, mode
        assert placement.to_frame(np.ones(MODEL, np.float32)).min() == pytest.approx(1.0)
    tensor, placement = Geometry(*MODEL, "crop").prepare(frame)
    assert not placement.covers_frame
    if aspect == "16:9":
        assert (tensor[:, :, 0] > 60).sum() == 0  # every corner dot was cut off
    seen = placement.to_frame(np.ones(MODEL, np.float32)) > 0.5
    # crop keeps the centred part with the model's aspect ratio: the rest of the frame gets 0
    expected = min(w / h, MODEL[1] / MODEL[0]) / max(w / h, MODEL[1] / MODEL[0])
    assert seen.mean() == pytest.approx(expected, abs=0.01)
    assert not seen[0, 0] and not seen[h - 1, w - 1] and seen[h // 2, w // 2]


def test_letterbox_keeps_the_aspect_ratio_and_pads_black() -> None:
    frame = np.full((480, 640, 3), 200, np.uint8)
    tensor, _ = Geometry(224, 448, "letterbox").prepare(frame)
    content = tensor[:, :, 0] == 200
    cols = np.nonzero(content.any(axis=0))[0]
    assert content.all(axis=1).sum() == 0 and content.any(axis=1).all()
    assert (cols[-1] - cols[0] + 1) / 224 == pytest.approx(640 / 480, abs=0.01)
    assert tensor[:, 0].max() == 0 and tensor[:, -1].max() == 0


def test_same_size_stretch_is_the_identity() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (96, 160, 3), dtype=np.uint8)
    tensor, placement = Geometry(96, 160).prepare(frame)
    np.testing.assert_array_equal(tensor, frame)
    amap = np.random.default_rng(1).random((96, 160)).astype(np.float32)
    np.testing.assert_allclose(placement.to_frame(amap), amap, atol=1e-6)


def test_degenerate_frames_are_placed() -> None:
    for shape in ((1, 5000, 3), (5000, 1, 3), (2, 2, 3)):
        for mode in ("stretch", "letterbox", "crop"):
            tensor, placement = Geometry(64, 96, mode).prepare(np.full(shape, 99, np.uint8))
            assert tensor.shape == (64, 96, 3)
            assert placement.to_frame(np.ones((64, 96), np.float32)).shape == shape[:2]


def test_default_input_size_follows_the_images() -> None:
    assert default_input_hw([(300, 300)], 224) == (224, 224)
    assert default_input_hw([(720, 1280)], 224) == (224, 400)  # 16:9
    assert default_input_hw([(400, 300)], 224) == (304, 224)  # tire: 300 wide, 400 high
    assert default_input_hw([(300, 600), (300, 600), (300, 300)], 128) == (128, 256)  # the median aspect
    with pytest.raises(UserError, match="no readable training images"):
        default_input_hw([], 224)


def test_input_size_flag() -> None:
    assert parse_input_size("256") == 256
    assert parse_input_size("224x400") == (224, 400)
    for bad in ("", "x", "0", "224x", "10x10", "99999", "224x400x3", "big"):
        with pytest.raises(UserError, match="--input-size"):
            parse_input_size(bad)
    with pytest.raises(UserError, match="--resize-mode"):
        Geometry(64, 64, "squash")


@pytest.mark.parametrize("angle", [0, 35, 90, 160, 215, 300])
def test_align_turns_the_part_horizontal_whatever_its_angle(angle: int) -> None:
    """A dark, tapered bar (a screw's silhouette) at any angle ends up horizontal, heavy end on one side,
    centred; its map goes back onto the frame where the bar was."""
    h, w = 480, 640
    frame = np.full((h, w, 3), 230, np.uint8)
    centre = np.array([380.0, 200.0])
    direction = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
    head = centre + 70 * direction
    cv2.line(frame, tuple(map(int, centre - 90 * direction)), tuple(map(int, head)), (40, 40, 40), 14)
    cv2.circle(frame, tuple(map(int, head)), 26, (40, 40, 40), -1)  # the heavy end
    tensor, placement = Geometry(128, 160, "stretch", "principal_axis").prepare(frame)
    part = tensor[:, :, 0] < 128
    ys, xs = np.nonzero(part)
    assert (xs.mean(), ys.mean()) == pytest.approx(((160 - 1) / 2, (128 - 1) / 2), abs=3)
    assert np.ptp(xs) > 3 * np.ptp(ys)  # horizontal
    assert ((xs - xs.mean()) ** 3).mean() > 0  # the thin end to +x, the heavy one to -x, for every angle
    back = placement.to_frame(part.astype(np.float32))
    assert centroid(back > 0.5) == pytest.approx(centroid(frame[:, :, 0] < 128), abs=4)
