"""Heatmap overlays for reports, rejected frames and overlay videos (numpy + OpenCV only)."""

from __future__ import annotations

import cv2
import numpy as np


def threshold_overlay(image_bgr: np.ndarray, amap: np.ndarray, threshold: float | None) -> np.ndarray:
    """Overlay on the fixed scale 0 .. 2x threshold (the threshold mid-scale), so frames compare at a glance;
    without a threshold the map's own maximum tops the scale."""
    top = 2 * threshold if threshold else float(amap.max()) or 1.0
    return overlay_heatmap(image_bgr, amap, 0.0, top)


def overlay_heatmap(
    image_bgr: np.ndarray, amap: np.ndarray, vmin: float, vmax: float, alpha: float = 0.5
) -> np.ndarray:
    """Blend a JET heatmap of amap (vmin blue .. vmax red, clipped) over a uint8 BGR image.

    The map is resized bilinearly to the image when their sizes differ. Returns uint8 BGR, HxWx3.
    """
    if image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"image must be uint8 HxWx3, got {image_bgr.dtype} {image_bgr.shape}")
    height, width = image_bgr.shape[:2]
    amap = np.asarray(amap, dtype=np.float32)
    if amap.shape != (height, width):
        amap = cv2.resize(amap, (width, height), interpolation=cv2.INTER_LINEAR)
    span = vmax - vmin if vmax > vmin else 1.0
    levels = np.rint(np.clip((amap - vmin) / span, 0.0, 1.0) * 255.0).astype(np.uint8)
    heat = cv2.applyColorMap(levels, cv2.COLORMAP_JET)
    return cv2.addWeighted(image_bgr, 1.0 - alpha, heat, alpha, 0.0)


def verdict_overlay(
    image_bgr: np.ndarray, amap: np.ndarray, threshold: float | None, verdict: str, value: float
) -> np.ndarray:
    """`threshold_overlay` with the verdict and the (normalised) score written in the corner, red for NG."""
    out = threshold_overlay(image_bgr, amap, threshold)
    scale = max(0.4, min(out.shape[:2]) / 800)
    color = (0, 0, 255) if verdict == "NG" else (0, 200, 0)
    origin = (int(10 * scale), int(30 * scale))
    cv2.putText(out, f"{verdict} {value:.2f}", origin, cv2.FONT_HERSHEY_SIMPLEX, scale, color, max(1, round(2 * scale)))
    return out
