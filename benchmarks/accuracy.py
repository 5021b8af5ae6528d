"""Screw image AUROC, pixel AUROC and PRO of an exported model, run through onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.latency import open_session
from padim_edge.data import DatasetSplit, iter_batches
from padim_edge.metrics import compute_metrics


@dataclass
class Scored:
    """A model's outputs on the test split, in sample order."""

    metrics: dict
    scores: np.ndarray
    maps: np.ndarray


def score_split(model: Path, split: DatasetSplit, size: int, batch: int = 16) -> Scored:
    """Run `model` (2 threads) over `split.test` prepared at `size` (resize = crop = size) and score it."""
    session = open_session(model)
    name = session.get_inputs()[0].name
    scores, maps, masks = [], [], []
    for b in iter_batches(split.test, batch, size, size, with_masks=True):
        amap, score = session.run(None, {name: b.images})
        scores.append(score)
        maps.append(amap[:, 0])
        masks.append(b.masks)
    labels = np.array([s.label for s in split.test])
    s, m = np.concatenate(scores), np.concatenate(maps)
    metrics = compute_metrics(labels, s, np.concatenate(masks), m)
    return Scored({k: metrics[k] for k in ("image_auroc", "pixel_auroc", "pro", "n_images")}, s, m)


def agreement(a: Scored, b: Scored) -> dict:
    """How far b's outputs are from a's: largest differences relative to a's range, and the score ranking."""
    return {
        "max_score_rel_diff": float(np.abs(a.scores - b.scores).max() / np.ptp(a.scores)),
        "max_map_rel_diff": float(np.abs(a.maps - b.maps).max() / np.ptp(a.maps)),
        "same_ranking": bool((np.argsort(a.scores, kind="stable") == np.argsort(b.scores, kind="stable")).all()),
    }
