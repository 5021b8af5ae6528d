"""Tests for padim_edge.metrics: AUROCs, the PRO curve and its normalised area, compute_metrics."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from padim_edge.metrics import (
    compute_metrics,
    count_regions,
    image_auroc,
    pixel_auroc,
    pro_auc,
    pro_curve,
)

# Hand-worked case: one 3x5 image, region A = the 2x2 block at the top left (4 px), region B = the single
# pixel (1, 4); they do not touch, even diagonally, so there are 2 regions and 15 - 5 = 10 normal pixels.
HAND_MASK = np.array(
    [
        [1, 1, 0, 0, 0],
        [1, 1, 0, 0, 1],
        [0, 0, 0, 0, 0],
    ],
    dtype=bool,
)
HAND_MAP = np.array(
    [
        [0.8, 0.8, 0.85, 0.6, 0.1],
        [0.4, 0.4, 0.4, 0.4, 0.9],
        [0.1, 0.1, 0.1, 0.1, 0.1],
    ]
)
# Sweeping the threshold t down (a pixel is positive when its score >= t):
#   t=0.9  : B (1/1)                        -> FPR 0/10, PRO (0 + 1) / 2      = 0.5
#   t=0.85 : + 1 normal                     -> FPR 1/10, PRO 0.5
#   t=0.8  : + 2 px of A (2/4)              -> FPR 1/10, PRO (0.5 + 1) / 2    = 0.75
#   t=0.6  : + 1 normal                     -> FPR 2/10, PRO 0.75
#   t=0.4  : + last 2 px of A and 2 normals -> FPR 4/10, PRO 1.0   (a tie: one sloped step)
#   t=0.1  : + the 6 other normals          -> FPR 1,    PRO 1.0
# Area from FPR 0 to 0.3: [0, 0.1] at 0.5 -> 0.05; [0.1, 0.2] at 0.75 -> 0.075; on [0.2, 0.4] PRO rises
# linearly from 0.75 to 1.0, so PRO(0.3) = 0.875 and [0.2, 0.3] gives 0.1 * (0.75 + 0.875) / 2 = 0.08125.
# Total 0.20625, divided by 0.3: 0.6875 = 11/16.
HAND_FPRS = [0.0, 0.0, 0.1, 0.1, 0.2, 0.4, 1.0, 1.0]
HAND_PROS = [0.0, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0, 1.0]


def test_pro_curve_hand_case() -> None:
    fprs, pros = pro_curve(HAND_MASK[None], HAND_MAP[None])
    assert fprs == pytest.approx(HAND_FPRS)
    assert pros == pytest.approx(HAND_PROS)


def test_pro_auc_hand_case() -> None:
    assert pro_auc(HAND_MASK[None], HAND_MAP[None]) == pytest.approx(11 / 16)


def test_good_image_only_adds_to_fpr() -> None:
    # A good 3x5 image scored 0 everywhere adds 15 normals below every other score: 25 normals in all,
    # so the steps become FPR 1/25 = 0.04, 0.08, then 0.16 (ties at 0.4), then 0.40 (the six at 0.1).
    # Area to 0.3: 0.04 * 0.5 + 0.04 * 0.75 + 0.08 * (0.75 + 1) / 2 + 0.14 * 1 = 0.26; / 0.3 = 13/15.
    masks = np.stack([HAND_MASK, np.zeros_like(HAND_MASK)])
    maps = np.stack([HAND_MAP, np.zeros_like(HAND_MAP)])
    assert pro_auc(masks, maps) == pytest.approx(13 / 15)


def test_regions_use_8_connectivity() -> None:
    diagonal = np.eye(3, dtype=bool)[None]
    assert count_regions(diagonal) == 1
    assert count_regions(HAND_MASK[None]) == 2


def test_perfect_and_inverted_maps() -> None:
    masks = _random_masks(np.random.default_rng(0))
    perfect = masks.astype(np.float32)
    assert pro_auc(masks, perfect) == pytest.approx(1.0)
    assert pixel_auroc(masks, perfect) == pytest.approx(1.0)
    assert pro_auc(masks, -perfect) == pytest.approx(0.0)
    assert pixel_auroc(masks, -perfect) == pytest.approx(0.0)


def test_pro_auc_matches_slow_reference() -> None:
    rng = np.random.default_rng(1)
    masks = _random_masks(rng)
    maps = rng.normal(size=masks.shape) + 1.5 * masks
    maps = np.stack([cv2.GaussianBlur(m, (5, 5), 1.0) for m in maps])
    for limit in (0.3, 0.1):
        assert pro_auc(masks, maps, limit) == pytest.approx(_reference_pro_auc(masks, maps, limit), abs=1e-2)


def test_pro_errors() -> None:
    with pytest.raises(ValueError, match="defect region"):
        pro_auc(np.zeros((2, 4, 4), dtype=bool), np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="fpr_limit"):
        pro_auc(HAND_MASK[None], HAND_MAP[None], fpr_limit=0.0)
    with pytest.raises(ValueError, match=r"pair up as \[h, w\]"):
        pro_auc(HAND_MASK, HAND_MAP)
    with pytest.raises(ValueError, match="pair up"):
        pro_auc([HAND_MASK], [HAND_MAP[:, :-1]])


def test_images_of_different_sizes_count_every_pixel_once() -> None:
    """Frames keep their own sizes: metrics over per-image lists equal those over the same pixels stacked."""
    rng = np.random.default_rng(0)
    masks = [rng.random((6, 9)) > 0.8, rng.random((4, 4)) > 0.7, np.zeros((5, 3), bool)]
    maps = [m + rng.normal(0, 0.5, m.shape) for m in masks]
    stacked_masks = np.concatenate([m.ravel() for m in masks])[None, None, :]
    stacked_maps = np.concatenate([m.ravel() for m in maps])[None, None, :]
    assert pixel_auroc(masks, maps) == pytest.approx(pixel_auroc(stacked_masks, stacked_maps))
    regions = sum(cv2.connectedComponents(m.astype(np.uint8), connectivity=8)[0] - 1 for m in masks)
    assert compute_metrics(np.array([1, 1, 0]), np.zeros(3), masks, maps)["n_regions"] == regions


def test_image_auroc() -> None:
    # Pairs (defective, good) ranked right: 0.35>0.1, 0.8>0.1, 0.8>0.4; wrong: 0.35<0.4 -> 3/4.
    assert image_auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_compute_metrics_counts() -> None:
    masks = np.zeros((5, 8, 8), dtype=bool)
    masks[2, :2, :2] = True
    masks[2, 5:, 5:] = True
    masks[3, 3:5, 3:5] = True
    labels = np.array([0, 0, 1, 1, 1])
    maps = masks + np.linspace(0.0, 0.5, masks.size).reshape(masks.shape)
    result = compute_metrics(labels, np.array([0.1, 0.2, 0.9, 0.8, 0.3]), masks, maps)
    assert result["image_auroc"] == pytest.approx(1.0)
    assert result["pixel_auroc"] == pytest.approx(1.0)
    assert result["pro"] == pytest.approx(1.0)
    counts = {key: result[key] for key in ("n_images", "n_good", "n_defective", "n_regions")}
    assert counts == {"n_images": 5, "n_good": 2, "n_defective": 3, "n_regions": 3}


def test_compute_metrics_without_defect_pixels() -> None:
    labels = np.array([0, 1])
    scores = np.array([0.2, 0.7])
    empty = np.zeros((2, 4, 4), dtype=bool)
    for masks in (None, empty):
        result = compute_metrics(labels, scores, masks, np.zeros((2, 4, 4)))
        assert result["pixel_auroc"] is None and result["pro"] is None
        assert result["n_regions"] == 0
        assert result["image_auroc"] == pytest.approx(1.0)
    assert compute_metrics(np.array([0, 0]), scores, None, None)["image_auroc"] is None


def _random_masks(rng: np.random.Generator) -> np.ndarray:
    """Four 48x48 masks: one good, others with one or two discs of random size and place."""
    masks = np.zeros((4, 48, 48), dtype=np.uint8)
    for index, n_discs in ((1, 1), (2, 2), (3, 1)):
        for _ in range(n_discs):
            centre = tuple(int(c) for c in rng.integers(6, 42, size=2))
            cv2.circle(masks[index], centre, int(rng.integers(2, 8)), 1, thickness=-1)
    return masks.astype(bool)


def _reference_pro_auc(masks: np.ndarray, maps: np.ndarray, fpr_limit: float) -> float:
    """Slow PRO: loop over 400 thresholds, one region at a time, then a trapezoid up to fpr_limit."""
    regions = []
    for index, mask in enumerate(masks):
        n_labels, labelled = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        regions += [maps[index][labelled == k] for k in range(1, n_labels)]
    normal = maps[~masks]
    points = [(0.0, 0.0)]
    for threshold in np.quantile(normal, np.linspace(1.0, 1.0 - 1.5 * fpr_limit, 400)):
        fpr = np.mean(normal >= threshold)
        pro = np.mean([np.mean(region >= threshold) for region in regions])
        points.append((fpr, pro))
    fprs, pros = np.array(points).T
    inside = fprs <= fpr_limit
    x = np.append(fprs[inside], fpr_limit)
    y = np.append(pros[inside], np.interp(fpr_limit, fprs, pros))
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x))) / fpr_limit
