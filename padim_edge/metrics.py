"""Evaluation metrics: image AUROC, pixel AUROC and the MVTec AD per-region-overlap (PRO) score.

numpy + scikit-learn + OpenCV only, so evaluation runs without torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score


def image_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of image scores against labels (0 good, 1 defective)."""
    return float(roc_auc_score(np.asarray(labels).astype(bool), np.asarray(scores, dtype=np.float64)))


Pixels = np.ndarray | Sequence[np.ndarray]  # [N, H, W], or per-image [h, w] arrays of any sizes


def pixel_auroc(masks: Pixels, maps: Pixels) -> float:
    """Area under the ROC curve over every pixel of every image: masks and maps [N,H,W] arrays, or lists of
    per-image [h, w] arrays of any sizes (each map the size of its mask)."""
    masks, maps = _check_pixels(masks, maps)
    return float(roc_auc_score(_flat(masks), _flat(maps)))


# PRO is written by hand because scikit-learn has no per-region-overlap metric. It follows MVTec's
# official evaluation code (pro_curve_util.compute_pro and generic_util.trapezoid): every pixel carries
# an FPR weight (1 if normal) and a PRO weight (1 / size of its region if defective); sorting the scores
# once and taking cumulative sums gives the curve at every threshold without a loop over thresholds.
def pro_curve(masks: Pixels, maps: Pixels) -> tuple[np.ndarray, np.ndarray]:
    """PRO curve at every distinct threshold: (fprs, pros), both rising from 0 to 1.

    FPR counts normal pixels of all images (good and defective); PRO is the mean, over all connected
    defect regions (8-connectivity), of the fraction of the region's pixels at or above the threshold.
    Raise ValueError when there is no defect region or no normal pixel.
    """
    masks, maps = _check_pixels(masks, maps)
    fp_weights = ~_flat(masks)
    n_normal = int(fp_weights.sum())
    pro_weights, n_regions = _region_weights(masks)
    if n_regions == 0:
        raise ValueError("PRO needs at least one defect region in the masks")
    if n_normal == 0:
        raise ValueError("PRO needs at least one normal (mask == 0) pixel")

    flat_scores = _flat(maps)
    order = np.argsort(flat_scores)[::-1]
    sorted_scores = flat_scores[order]
    last_of_run = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    del sorted_scores
    fprs = np.cumsum(fp_weights[order], dtype=np.int64)[last_of_run] / n_normal
    pros = np.cumsum(pro_weights[order])[last_of_run] / n_regions
    del order
    fprs = np.clip(fprs, None, 1.0)
    pros = np.clip(pros, None, 1.0)
    return np.concatenate(([0.0], fprs, [1.0])), np.concatenate(([0.0], pros, [1.0]))


def pro_auc(masks: Pixels, maps: Pixels, fpr_limit: float = 0.3) -> float:
    """Area under the PRO curve from FPR 0 to fpr_limit, divided by fpr_limit (a perfect map gives 1.0)."""
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    fprs, pros = pro_curve(masks, maps)
    return float(_trapezoid(fprs, pros, fpr_limit) / fpr_limit)


def count_regions(masks: Pixels) -> int:
    """Number of connected defect regions (8-connectivity) over all masks."""
    return _region_weights([np.asarray(m, dtype=bool) for m in masks])[1]


def compute_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    masks: Pixels | None,
    maps: Pixels | None,
) -> dict:
    """All metrics and counts of one evaluation.

    image_auroc is None when the labels hold a single class; pixel_auroc and pro are None when there
    are no masks or no mask contains a defect.
    """
    labels = np.asarray(labels).astype(bool)
    n_defective = int(labels.sum())
    n_regions = count_regions(masks) if masks is not None else 0
    has_pixels = n_regions > 0 and maps is not None
    return {
        "image_auroc": image_auroc(labels, scores) if 0 < n_defective < labels.size else None,
        "pixel_auroc": pixel_auroc(masks, maps) if has_pixels else None,
        "pro": pro_auc(masks, maps) if has_pixels else None,
        "n_images": int(labels.size),
        "n_good": int(labels.size - n_defective),
        "n_defective": n_defective,
        "n_regions": n_regions,
    }


def _check_pixels(masks: Pixels, maps: Pixels) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-image bool masks and maps, each pair [h, w] of the same shape."""
    masks = [np.asarray(m, dtype=bool) for m in masks]
    maps = [np.asarray(m) for m in maps]
    shapes = [(a.shape, b.shape) for a, b in zip(masks, maps)]
    if len(masks) != len(maps) or any(a != b or len(a) != 2 for a, b in shapes):
        raise ValueError(f"masks and maps must pair up as [h, w] arrays of equal shapes, got {shapes[:3]}...")
    return masks, maps


def _flat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)


def _region_weights(masks: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Per-pixel PRO weight (1 / region size inside a defect region, else 0), flattened, and the region count."""
    weights = []
    n_regions = 0
    for mask in masks:
        n_labels, labelled = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        inverse = 1.0 / np.maximum(np.bincount(labelled.ravel(), minlength=n_labels), 1)
        inverse[0] = 0.0  # label 0 is the background
        weights.append(inverse[labelled].ravel())
        n_regions += n_labels - 1
    return (np.concatenate(weights) if weights else np.zeros(0)), n_regions


def _trapezoid(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid integral of y(x) from x[0] to x_max, x sorted, the curve interpolated linearly at x_max."""
    end = int(np.searchsorted(x, x_max, side="right"))
    xs, ys = x[:end], y[:end]
    area = float(np.sum(0.5 * (ys[1:] + ys[:-1]) * np.diff(xs)))
    if xs[-1] < x_max:
        y_max = ys[-1] + (y[end] - ys[-1]) * (x_max - xs[-1]) / (x[end] - xs[-1])
        area += 0.5 * (ys[-1] + y_max) * (x_max - xs[-1])
    return area
