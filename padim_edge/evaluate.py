"""Evaluate a fitted run on its test split with the PyTorch reference graph; write the report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from padim_edge.config import ModelConfig
from padim_edge.data import DatasetSplit, Sample, iter_batches
from padim_edge.errors import UserError
from padim_edge.metrics import compute_metrics
from padim_edge.model.build import graph_from_run
from padim_edge.model.run_dir import load_run
from padim_edge.progress import progress


@dataclass
class Predictions:
    """Scores and maps of a test set, in sample order."""

    config: ModelConfig
    samples: list[Sample]
    images: np.ndarray  # uint8 [N, S, S, 3] BGR at model resolution
    scores: np.ndarray  # [N]
    maps: np.ndarray  # [N, S, S]
    masks: np.ndarray  # bool [N, S, S]

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples])


@torch.inference_mode()
def predict_split(run_dir: Path, samples: list[Sample], batch_size: int = 16, show: bool = True) -> Predictions:
    """Run the reference graph of a fitted run over `samples`, keeping images, maps and masks."""
    config, mean, factor = load_run(run_dir)
    graph = graph_from_run(config, mean, factor)
    parts: dict[str, list] = {"samples": [], "images": [], "scores": [], "maps": [], "masks": []}
    batches = iter_batches(samples, batch_size, config.resize, config.input_size, with_masks=True)
    for batch in progress(batches, math.ceil(len(samples) / batch_size), "eval", show):
        amap, score = graph(torch.from_numpy(batch.images))
        parts["samples"] += batch.samples
        parts["images"].append(batch.images)
        parts["scores"].append(score.numpy())
        parts["maps"].append(amap[:, 0].numpy())
        parts["masks"].append(batch.masks)
    if not parts["samples"]:
        raise UserError("no readable test images")
    arrays = (np.concatenate(parts[k]) for k in ("images", "scores", "maps", "masks"))
    return Predictions(config, parts["samples"], *arrays)


def evaluate(run_dir: Path, split: DatasetSplit, report_dir: Path, show: bool = True) -> dict:
    """Image AUROC, pixel AUROC and PRO on `split.test`; writes JSON, markdown, plots and overlays."""
    from padim_edge.report import write_report

    if not split.test:
        raise UserError(f"{split.name}/{split.category}: no test images to evaluate on")
    labels = np.array([s.label for s in split.test])
    if labels.min() == labels.max():
        raise UserError(f"{split.name}/{split.category}: the test set needs both good and defective images")
    pred = predict_split(run_dir, split.test, show=show)
    config = pred.config
    has_masks = any(s.mask_path is not None for s in pred.samples)
    metrics = compute_metrics(pred.labels, pred.scores, pred.masks if has_masks else None, pred.maps)
    metrics.update({"backbone": config.backbone, "d": config.d, "input_size": config.input_size})
    write_report(
        report_dir,
        metrics,
        pred.labels,
        pred.scores,
        [f"{s.defect_type}/{s.path.name}" for s in pred.samples],
        list(pred.images),
        pred.maps,
        pred.masks if has_masks else None,
        config.threshold,
    )
    return metrics
