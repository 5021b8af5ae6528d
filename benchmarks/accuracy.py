"""Image AUROC, pixel AUROC and PRO on whole original frames, exactly as `padim-edge eval` computes them.

Fused models are scored by `padim_edge.evaluate.predict_split` (the PyTorch graph the export is verified
against). Models that exist only as ONNX (anomalib's formulation, the int8 backbone) run through the
product's runtime (`open_backend`) over the same batches, each map placed back onto its original frame by
its `Placement`, as predict_split does. Metrics: `padim_edge.metrics.compute_metrics`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from padim_edge.data import Sample, iter_batches
from padim_edge.evaluate import predict_split
from padim_edge.imaging.geometry import Geometry
from padim_edge.metrics import compute_metrics

METRICS = ("image_auroc", "pixel_auroc", "pro")


def _metrics(labels: np.ndarray, scores: np.ndarray, masks: list[np.ndarray], maps: list[np.ndarray]) -> dict:
    metrics = compute_metrics(labels, scores, masks, maps)
    return {k: metrics[k] for k in (*METRICS, "n_images", "n_good", "n_defective", "n_regions")}


def score_run(run: Path, samples: list[Sample]) -> dict:
    """A fitted run's metrics through predict_split (what `padim-edge eval` reports)."""
    pred = predict_split(run, samples, show=False)
    return _metrics(pred.labels, pred.scores, pred.masks, pred.maps)


def score_onnx(
    model: Path,
    samples: list[Sample],
    threads: int,
    batch: int = 16,
    backend: str = "onnxruntime",
    precision: str = "f32",
) -> dict:
    """An ONNX padim-edge model's metrics through the product's runtime (`backend`, `precision`: as `run
    --backend --precision`), maps placed back onto the frames."""
    from padim_edge.runtime.backends import open_backend

    providers = ["CPUExecutionProvider"] if backend == "onnxruntime" else None
    backend = open_backend(model, providers, threads, False, False, backend, precision)
    config = backend.info.config
    geometry = Geometry(*config.input_hw, config.resize_mode)
    labels, scores, masks, maps = [], [], [], []
    for b in iter_batches(samples, batch, geometry, with_masks=True):
        amap, score = backend.infer(b.images)
        labels += [s.label for s in b.samples]
        scores.append(score)
        masks += b.masks
        maps += [p.to_frame(m) for p, m in zip(b.placements, amap)]
    return _metrics(np.array(labels), np.concatenate(scores), masks, maps)
