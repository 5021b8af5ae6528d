"""Pose normalisation for parts that lie at any angle (`--align principal_axis`), numpy and OpenCV only.

The part is the largest connected region of an Otsu threshold (the polarity chosen so the part is the
minority of the pixels). Its principal axis, from the second-order central moments, is turned horizontal
and its centroid moved to the image centre; the 180-degree ambiguity is settled by the sign of the
third-order moment along the axis (the heavier end goes to one fixed side). The result is one 2x3 affine
per frame, applied in the pre-processing at fit and at run time alike, and undone when maps go back onto
the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_PIXELS = 16  # below this the part is not found and the frame is left as it is
IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def part_mask(image_bgr: np.ndarray) -> np.ndarray:
    """The part's pixels: the largest 8-connected region of the Otsu-thresholded, lightly blurred grey image."""
    gray = cv2.GaussianBlur(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), (5, 5), 0)
    _, binary = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if binary.mean() > 0.5:
        binary = 1 - binary
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 1:
        return binary.astype(bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def pose_matrix(image_bgr: np.ndarray) -> np.ndarray:
    """2x3 affine from the image to its pose-normalised version of the same size (identity if no part)."""
    h, w = image_bgr.shape[:2]
    ys, xs = np.nonzero(part_mask(image_bgr))
    if len(xs) < MIN_PIXELS:
        return IDENTITY.copy()
    cx, cy = xs.mean(), ys.mean()
    dx, dy = xs - cx, ys - cy
    theta = 0.5 * np.arctan2(2 * (dx * dy).mean(), (dx * dx).mean() - (dy * dy).mean())
    c, s = np.cos(theta), np.sin(theta)
    if ((dx * c + dy * s) ** 3).mean() < 0:  # positive skew: the long, thin end goes to +x
        c, s = -c, -s
    rotation = np.array([[c, s], [-s, c]])  # turns the axis direction (c, s) onto +x
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    return np.hstack([rotation, (centre - rotation @ np.array([cx, cy]))[:, None]])


def align(image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pose-normalised image (borders replicated) and the 2x3 affine that made it."""
    matrix = pose_matrix(image_bgr)
    h, w = image_bgr.shape[:2]
    out = cv2.warpAffine(image_bgr, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out, matrix


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 affine applying `inner` then `outer`."""
    return outer[:, :2] @ inner + np.hstack([np.zeros((2, 2)), outer[:, 2:]])
