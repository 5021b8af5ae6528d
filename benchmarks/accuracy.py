"""Image AUROC, pixel AUROC and PRO on whole original frames, exactly as `padim-edge eval` computes them.

Fused models are scored by `padim_edge.evaluate.predict_split` (the PyTorch graph the export is verified
against). Models that exist only as ONNX (anomalib's formulation, the int8 backbone) run through the
product's runtime (`open_backend`) over the same batches, each map placed back onto its original frame by
its `Placement`, as predict_split does. Metrics: `padim_edge.metrics.compute_metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from padim_edge.data import Sample, iter_batches
from padim_edge.evaluate import predict_split
from padim_edge.imaging.geometry import Geometry
from padim_edge.metrics import compute_metrics

METRICS = ("image_auroc", "pixel_auroc", "pro")


@dataclass
class Scored:
    """A model's metrics on a test split, with its scores and whole-frame maps in sample order."""

    metrics: dict
    scores: np.ndarray
    maps: list[np.ndarray]


def _scored(labels: np.ndarray, scores: np.ndarray, masks: list[np.ndarray], maps: list[np.ndarray]) -> Scored:
    metrics = compute_metrics(labels, scores, masks, maps)
    keep = (*METRICS, "n_images", "n_good", "n_defective", "n_regions")
    return Scored({k: metrics[k] for k in keep}, scores, maps)


def score_run(run: Path, samples: list[Sample]) -> Scored:
    """A fitted run's metrics through predict_split (what `padim-edge eval` reports)."""
    pred = predict_split(run, samples, show=False)
    return _scored(pred.labels, pred.scores, pred.masks, pred.maps)


def score_onnx(model: Path, samples: list[Sample], threads: int, batch: int = 16) -> Scored:
    """An ONNX padim-edge model's metrics through the product's runtime, maps placed back onto the frames."""
    from padim_edge.runtime.backends import open_backend

    backend = open_backend(model, ["CPUExecutionProvider"], threads, spinning=False)
    config = backend.info.config
    geometry = Geometry(*config.input_hw, config.resize_mode)
    labels, scores, masks, maps = [], [], [], []
    for b in iter_batches(samples, batch, geometry, with_masks=True):
        amap, score = backend.infer(b.images)
        labels += [s.label for s in b.samples]
        scores.append(score)
        masks += b.masks
        maps += [p.to_frame(m) for p, m in zip(b.placements, amap)]
    return _scored(np.array(labels), np.concatenate(scores), masks, maps)


def agreement(a: Scored, b: Scored) -> dict:
    """How far b's outputs are from a's: largest differences relative to a's range, and the score ranking."""
    map_range = max(float(np.ptp(m)) for m in a.maps)
    return {
        "max_score_rel_diff": float(np.abs(a.scores - b.scores).max() / np.ptp(a.scores)),
        "max_map_rel_diff": max(float(np.abs(x - y).max()) for x, y in zip(a.maps, b.maps)) / map_range,
        "same_ranking": bool((np.argsort(a.scores, kind="stable") == np.argsort(b.scores, kind="stable")).all()),
    }
