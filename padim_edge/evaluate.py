"""Evaluate a fitted run on its test split with the PyTorch reference graph, on the whole original frames.

Each anomaly map is placed back onto its original frame (imaging.geometry) and compared with the
original, uncropped mask: whatever a resize mode leaves out of the model's view counts as missed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from padim_edge.contract.schema import ModelConfig
from padim_edge.data import DatasetSplit, Sample, iter_batches
from padim_edge.data.batches import Batch
from padim_edge.errors import UserError
from padim_edge.imaging.geometry import Geometry
from padim_edge.metrics import compute_metrics
from padim_edge.model.build import graph_from_run
from padim_edge.model.run_dir import load_run
from padim_edge.progress import progress


@dataclass
class Predictions:
    """Scores, and per image its original frame, its map on that frame and its mask, in sample order."""

    config: ModelConfig
    samples: list[Sample]
    scores: np.ndarray  # [N]
    frames: list[np.ndarray]  # uint8 [h, w, 3] BGR, original size
    maps: list[np.ndarray]  # float32 [h, w]
    masks: list[np.ndarray]  # bool [h, w]

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples])


@torch.inference_mode()
def predict_split(run_dir: Path, samples: list[Sample], batch_size: int = 16, show: bool = True) -> Predictions:
    """Run the reference graph of a fitted run over `samples`; maps placed back onto the original frames."""
    config, mean, factor = load_run(run_dir)
    graph = graph_from_run(config, mean, factor)
    kept: list[Sample] = []
    scores, frames, maps, masks = [], [], [], []
    batches = iter_batches(samples, batch_size, Geometry.of(config), keep_frames=True, with_masks=True)
    for batch in progress(batches, math.ceil(len(samples) / batch_size), "eval", show):
        amap, batch_scores = _score_batch(graph, batch)
        kept += batch.samples
        scores.append(batch_scores)
        frames += batch.frames
        masks += batch.masks
        maps += [p.to_frame(m) for p, m in zip(batch.placements, amap)]
    if not kept:
        raise UserError("no readable test images")
    return Predictions(config, kept, np.concatenate(scores), frames, maps, masks)


@torch.inference_mode()
def score_samples(run_dir: Path, samples: list[Sample], batch_size: int = 16) -> tuple[list[Sample], np.ndarray]:
    """The image scores of a fitted run over `samples` (those readable, in order), nothing else kept: what a
    choice between runs needs, without holding every frame and map."""
    config, mean, factor = load_run(run_dir)
    graph = graph_from_run(config, mean, factor)
    kept: list[Sample] = []
    scores = []
    for batch in iter_batches(samples, batch_size, Geometry.of(config)):
        kept += batch.samples
        scores.append(_score_batch(graph, batch)[1])
    return kept, np.concatenate(scores) if scores else np.zeros(0, np.float32)


def _score_batch(graph: torch.nn.Module, batch: Batch) -> tuple[np.ndarray, list[float]]:
    """A batch's maps [B, h, w] at the model's size, and each image's score as the runtime takes it."""
    amap, score = graph(torch.from_numpy(batch.images))
    maps = amap[:, 0].numpy()
    return maps, [p.image_score(m, s) for p, m, s in zip(batch.placements, maps, score.numpy())]


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
    metrics.update(
        {
            "backbone": config.backbone,
            "d": config.d,
            "input_hw": list(config.input_hw),
            "resize_mode": config.resize_mode,
            "evaluated_on": "whole original frames, uncropped masks",
        }
    )
    names = [f"{s.defect_type}/{s.path.name}" for s in pred.samples]
    masks = pred.masks if has_masks else None
    write_report(
        report_dir, metrics, pred.labels, pred.scores, names, pred.frames, pred.maps, masks, config.threshold,
        notes=_selection_notes(config),
    )  # fmt: skip
    return metrics


def _selection_notes(config: ModelConfig) -> list[str]:
    """The report's section on how `fit --select` chose the settings (none for a plain fit)."""
    from padim_edge.select import selection_table

    table = selection_table(config)
    return ["", "## Settings chosen by fit --select", "", *table] if table else []
