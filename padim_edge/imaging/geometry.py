"""Where a frame of any size goes in the model's H x W input, and how results go back onto the frame.

Three resize modes, recorded in the model:
- `stretch` (default): the whole frame, scaled to H x W independently per axis. The model's H x W follows
  the training images' aspect ratio, so frames shaped like them are scaled without distortion.
- `letterbox`: the whole frame, scaled uniformly to fit inside H x W, centred, padded with black; a frame's
  score is then taken over the cells it fills, never over the bars (`Placement.image_score`).
- `crop`: scaled uniformly to cover H x W, centred, the overflow cut off (only when asked for).

With `align principal_axis` the placed frame is then turned so the part's principal axis is horizontal
(imaging.align). Each placement is an affine map from frame pixels to model pixels (pixel centres,
OpenCV's convention), so an anomaly map goes back onto the whole original frame with one
`cv2.warpAffine`; frame pixels the model never saw (cut off by `crop`, or outside a rotated view) get 0.
Shrinking uses area interpolation (no aliasing), enlarging bilinear.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from padim_edge.contract.schema import ALIGN_MODES, RESIZE_MODES
from padim_edge.errors import UserError
from padim_edge.imaging.align import align, compose

if TYPE_CHECKING:
    from padim_edge.contract.schema import ModelConfig

MULTIPLE = 16  # default input sides are multiples of the deepest feature stride


@dataclass(frozen=True)
class Placement:
    """Frame pixel (x, y) -> model pixel `matrix @ (x, y, 1)`; `covers_frame`: every frame pixel is in view;
    `view`: the model rows and columns the frame fills when it does not fill them all (letterbox bars)."""

    matrix: np.ndarray  # float64 [2, 3]
    frame_hw: tuple[int, int]
    model_hw: tuple[int, int]
    covers_frame: bool
    view: tuple[slice, slice] | None = None

    def image_score(self, amap: np.ndarray, graph_score: float) -> float:
        """The frame's score: the maximum of its model-resolution map [H, W] over the cells that show the
        frame. The graph's own score is the maximum over its whole input, letterbox bars included, where the
        statistics never saw black (a frame of another aspect ratio) and a bar cell would decide the verdict."""
        return float(graph_score) if self.view is None else float(amap[self.view].max())

    def to_frame(self, amap: np.ndarray) -> np.ndarray:
        """A model-resolution map [H, W] placed onto the whole frame: float32 [h, w], 0 outside the view."""
        h, w = self.frame_hw
        amap = np.ascontiguousarray(amap, dtype=np.float32)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        out = cv2.warpAffine(amap, self.matrix, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        if not self.covers_frame:
            ones = np.ones(self.model_hw, np.uint8)
            seen = cv2.warpAffine(ones, self.matrix, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
            out[seen == 0] = 0.0
        return out


@dataclass(frozen=True)
class Geometry:
    """The model's input size, resize mode and pose normalisation: prepares frames and records where each
    one went."""

    height: int
    width: int
    mode: str = "stretch"
    align: str = "none"

    def __post_init__(self) -> None:
        if self.mode not in RESIZE_MODES:
            raise UserError(f"--resize-mode {self.mode}: expected one of {', '.join(RESIZE_MODES)}")
        if self.align not in ALIGN_MODES:
            raise UserError(f"--align {self.align}: expected one of {', '.join(ALIGN_MODES)}")

    @classmethod
    def of(cls, config: ModelConfig) -> Geometry:
        """The geometry a fitted model was fitted with."""
        return cls(config.input_height, config.input_width, config.resize_mode, config.align)

    def place(self, frame_hw: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int], Placement]:
        """(resized h, w), (top, left) offset of the resized frame in the input, and the placement."""
        h, w = frame_hw
        H, W = self.height, self.width
        if self.mode == "stretch":
            nh, nw = H, W
        elif self.mode == "letterbox":
            s = min(W / w, H / h)
            nh, nw = min(H, max(1, round(h * s))), min(W, max(1, round(w * s)))
        else:
            s = max(W / w, H / h)
            nh, nw = max(H, round(h * s)), max(W, round(w * s))
        top, left = (H - nh) // 2, (W - nw) // 2  # negative for crop: the resized frame overflows
        sy, sx = nh / h, nw / w
        matrix = np.array([[sx, 0.0, 0.5 * sx - 0.5 + left], [0.0, sy, 0.5 * sy - 0.5 + top]])
        covers = self.mode != "crop" or (nh, nw) == (H, W)
        view = None
        if self.mode == "letterbox" and (nh, nw) != (H, W):
            view = (slice(top, top + nh), slice(left, left + nw))
        return (nh, nw), (top, left), Placement(matrix, (h, w), (H, W), covers, view)

    def prepare(self, frame: np.ndarray) -> tuple[np.ndarray, Placement]:
        """A uint8 BGR frame of any size -> the model's uint8 [H, W, 3] input and where the frame went."""
        (nh, nw), (top, left), placement = self.place(frame.shape[:2])
        h, w = frame.shape[:2]
        if self.mode == "crop" and nh * nw > 4 * self.height * self.width:
            # A much enlarged frame (a 1x5000 strip, say) is sampled straight into the crop window rather
            # than enlarged whole first (which takes gigabytes); enlarging needs no area filter anyway.
            flags = cv2.INTER_LINEAR
            frame = cv2.warpAffine(
                frame, placement.matrix, (self.width, self.height), flags=flags, borderMode=cv2.BORDER_REPLICATE
            )
        elif (nh, nw) != (h, w):
            shrink = nh <= h and nw <= w
            frame = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if self.mode == "letterbox" and (nh, nw) != (self.height, self.width):
            canvas = np.zeros((self.height, self.width, 3), np.uint8)
            canvas[top : top + nh, left : left + nw] = frame
            frame = canvas
        elif self.mode == "crop" and frame.shape[:2] != (self.height, self.width):
            frame = frame[-top : -top + self.height, -left : -left + self.width]
        if self.align == "principal_axis":
            frame, pose = align(np.ascontiguousarray(frame))
            placement = Placement(compose(pose, placement.matrix), placement.frame_hw, placement.model_hw, False)
        return np.ascontiguousarray(frame), placement


def default_input_hw(frame_sizes: Sequence[tuple[int, int]], short_side: int) -> tuple[int, int]:
    """H x W for frames of these (h, w) sizes: the median aspect ratio, shorter side `short_side`, the longer
    rounded to a multiple of 16 (mixed aspect ratios take the median; see docs/choices.md)."""
    if not frame_sizes:
        raise UserError("no readable training images to take the input size from")
    aspect = float(np.median([w / h for h, w in frame_sizes]))
    longer = max(short_side, MULTIPLE * math.floor(short_side * max(aspect, 1 / aspect) / MULTIPLE + 0.5))
    return (short_side, longer) if aspect >= 1 else (longer, short_side)


def snap_to_stride(input_hw: tuple[int, int], stride: int) -> tuple[int, int]:
    """Each side rounded to the nearest multiple of `stride` (at least one stride): the backbone's taps then
    give feature grids of exactly H/stride_k x W/stride_k, which line up when the deeper ones are upsampled
    onto the first (225x301 would give grids of 57x76, 29x38 and 15x19 at strides 4, 8 and 16)."""
    return tuple(max(stride, stride * round(side / stride)) for side in input_hw)  # type: ignore[return-value]


def parse_input_size(text: str) -> tuple[int, int] | int:
    """`--input-size`: "HxW" (e.g. 224x400) or one number S, the shorter side (the other follows the images)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(32 <= v <= 4096 for v in values):
        raise UserError(f"--input-size {text}: expected S or HxW with sides between 32 and 4096, e.g. 224 or 224x400")
    return values[0] if len(values) == 1 else (values[0], values[1])


def aspect_of(height: int, width: int) -> str:
    """'16:9'-style text for logs."""
    g = math.gcd(height, width)
    return f"{width // g}:{height // g}"
