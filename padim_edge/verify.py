"""Parity of an exported graph (onnxruntime) with the PyTorch reference on real images of the run's data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from padim_edge.data import Sample, iter_batches
from padim_edge.errors import UserError
from padim_edge.imaging.geometry import Geometry
from padim_edge.model.build import graph_from_run
from padim_edge.model.run_dir import load_run
from padim_edge.runtime.backends.onnxruntime import OnnxRuntimeBackend

TOLERANCE = 1e-4


@dataclass
class Parity:
    """Largest map difference relative to the reference maps' range, and whether scores rank alike."""

    images: int
    max_map_diff: float
    relative_map_diff: float
    max_score_diff: float
    same_ranking: bool
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.relative_map_diff <= self.tolerance and self.same_ranking

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


@torch.inference_mode()
def check_parity(run_dir: Path, model: Path, samples: list[Sample], tolerance: float = TOLERANCE) -> Parity:
    """Run both paths on `samples` (batch 8) and compare maps and score rankings."""
    config, mean, factor = load_run(run_dir)
    graph = graph_from_run(config, mean, factor)
    backend = OnnxRuntimeBackend(model)
    ref_maps, ref_scores, maps, scores = [], [], [], []
    geometry = Geometry.of(config)
    for batch in iter_batches(samples, 8, geometry):
        amap, score = graph(torch.from_numpy(batch.images))
        ref_maps.append(amap[:, 0].numpy())
        ref_scores.append(score.numpy())
        m, s = backend.infer(batch.images)
        maps.append(m)
        scores.append(s)
    if not ref_maps:
        raise UserError("no readable images to compare on")
    ref, out = np.concatenate(ref_maps), np.concatenate(maps)
    ref_s, out_s = np.concatenate(ref_scores), np.concatenate(scores)
    diff = float(np.abs(ref - out).max())
    return Parity(
        images=len(ref_s),
        max_map_diff=diff,
        relative_map_diff=diff / float(ref.max() - ref.min()),
        max_score_diff=float(np.abs(ref_s - out_s).max()),
        same_ranking=bool((np.argsort(ref_s, kind="stable") == np.argsort(out_s, kind="stable")).all()),
        tolerance=tolerance,
    )
