"""Synthetic defects on good images: the validation set of `fit --select`, which has no defect labels.

Three kinds, after CutPaste (Li et al., 2021) and NSA (Schlüter et al., 2022): a patch of another good
image pasted elsewhere, a thin scratch, a colour blotch. Each lands where the image has structure (drawn
in proportion to local contrast, so on the part rather than on a plain background) and is blended in at a
strength from a ladder, faint to plain: with plain defects alone every candidate separates them perfectly
and the choice would carry no information. Written by hand: no maintained library draws these.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

KINDS = ("patch", "scratch", "blotch")
#: Blend weights of a defect over the image, faint to plain.
STRENGTHS = (0.35, 0.7)


def defect_site(image: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """A (y, x) drawn in proportion to the local contrast of the image (anywhere, on a flat image)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    small = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA)
    contrast = cv2.GaussianBlur(np.abs(cv2.Laplacian(small, cv2.CV_32F)), (0, 0), 2.0).ravel() + 1e-6
    cell = rng.choice(contrast.size, p=contrast / contrast.sum())
    h, w = image.shape[:2]
    y = (cell // 64 + rng.uniform()) * h / 64
    x = (cell % 64 + rng.uniform()) * w / 64
    return int(min(y, h - 1)), int(min(x, w - 1))


def _soft_mask(shape: tuple[int, int], draw: Callable[[np.ndarray], object], feather: float) -> np.ndarray:
    """A float32 [h, w] mask in [0, 1]: what `draw` paints on a blank canvas, edges blurred by `feather` px."""
    canvas = np.zeros(shape, np.uint8)
    draw(canvas)
    mask = canvas.astype(np.float32) / 255.0
    return cv2.GaussianBlur(mask, (0, 0), feather) if feather > 0 else mask


def add_defect(
    image: np.ndarray, donor: np.ndarray, kind: str, strength: float, rng: np.random.Generator
) -> np.ndarray:
    """A copy of the uint8 BGR `image` with one defect of `kind` blended in at `strength` (0 to 1);
    `donor`, another good image of any size, gives the pasted patch."""
    h, w = image.shape[:2]
    side = min(h, w)
    y, x = defect_site(image, rng)
    if kind == "patch":
        half = max(2, int(side * rng.uniform(0.03, 0.07)))
        dh, dw = donor.shape[:2]
        dy, dx = int(rng.uniform(0, dh - 1)), int(rng.uniform(0, dw - 1))
        shift = np.float32([[1, 0, x - dx * w / dw], [0, 1, y - dy * h / dh]])
        overlay = cv2.warpAffine(cv2.resize(donor, (w, h)), shift, (w, h), borderMode=cv2.BORDER_REFLECT)
        mask = _soft_mask((h, w), lambda c: cv2.circle(c, (x, y), half, 255, -1), half / 4)
    elif kind == "scratch":
        length = side * rng.uniform(0.08, 0.2)
        angle = rng.uniform(0, np.pi)
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        ends = (int(x - dx), int(y - dy)), (int(x + dx), int(y + dy))
        thickness = max(1, int(round(side * rng.uniform(0.004, 0.01))))
        shade = 255.0 if image[y, x].mean() < 128 else 0.0  # the contrast a scratch catches the light with
        overlay = np.full_like(image, shade)
        mask = _soft_mask((h, w), lambda c: cv2.line(c, *ends, 255, thickness, cv2.LINE_AA), 0)
    elif kind == "blotch":
        axes = (max(2, int(side * rng.uniform(0.02, 0.06))), max(2, int(side * rng.uniform(0.02, 0.06))))
        overlay = np.empty_like(image)  # a stain: the local colour, each channel shifted up or down
        shift = rng.uniform(40, 90, 3) * rng.choice([-1.0, 1.0], 3)
        overlay[:] = np.clip(image[y, x].astype(np.float32) + shift, 0, 255)
        mask = _soft_mask(
            (h, w), lambda c: cv2.ellipse(c, (x, y), axes, rng.uniform(0, 180), 0, 360, 255, -1), min(axes) / 3
        )
    else:
        raise ValueError(f"unknown defect kind {kind!r} (known: {', '.join(KINDS)})")
    alpha = (mask * strength)[:, :, None]
    return np.clip(image * (1 - alpha) + overlay * alpha + 0.5, 0, 255).astype(np.uint8)
