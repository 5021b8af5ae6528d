"""The product graph's fused head and post-processing (gather-and-Mahalanobis head, upsampling and blur as
two MatMuls) against an independent oracle: anomalib's PaDiM formulation, operation by operation (every channel
concatenated then selected, the full inverse covariance, bilinear upsampling, a 2-D Gaussian convolution),
on the same fitted run and real frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from anomalib_formulation import ReferenceGraph

from padim_edge.imaging.decode import read_image
from padim_edge.runtime.backends import open_backend
from padim_edge.runtime.predictor import Predictor


@torch.inference_mode()
def test_fused_graph_equals_anomalibs_formulation(cells_run: Path, cells_model: Path, cell_frames: list[Path]):
    predictor = Predictor(open_backend(cells_model))
    frames = np.stack([predictor.prepare(read_image(p))[0] for p in cell_frames[::2]])
    maps, scores = predictor.infer(frames)
    ref_map, ref_score = ReferenceGraph(cells_run).eval()(torch.from_numpy(frames))
    ref_maps, ref_scores = ref_map[:, 0].numpy(), ref_score.numpy()
    assert maps.shape == ref_maps.shape == (len(frames), *predictor.input_hw)
    assert np.abs(maps - ref_maps).max() <= 1e-4 * np.ptp(ref_maps)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5)
    assert np.ptp(scores) > 1e-2 * scores.max()  # frames that differ: agreement is not a constant map's
