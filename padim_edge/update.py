"""`fit --update`: add new good images to a fitted run exactly, without the images it was fitted on.

The new images go through the run's own feature path (its backbone, checked by sha256, its channels, pooling
and input geometry) into float64 sums, which merge with the run's (model.sums); the whitening is derived
again from the merged sums, so the result equals a fit on the old and new images together.

Threshold rule: a share of the new images (`holdout`, split with the run's seed) is held out like at fit:
each is scored with the statistics of every other image, old and new, before it joins them. The threshold
becomes the run's quantile of every held-out score the run has recorded: the fit's and each update's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from padim_edge.contract.schema import ModelConfig, Update
from padim_edge.data.frame_record import check_frames
from padim_edge.data.samples import Sample
from padim_edge.errors import UserError
from padim_edge.fit import FitOptions, accumulate, score_then_add, threshold_from_scores
from padim_edge.imaging.decode import list_images
from padim_edge.imaging.geometry import Geometry
from padim_edge.model.build import feature_extractor, load_run_backbone, scoring_graph
from padim_edge.model.run_dir import load_run, load_sums, save_run, statistics_digest
from padim_edge.model.statistics import StreamingGaussian
from padim_edge.model.sums import Sums


@dataclass(kw_only=True)
class UpdateOptions:
    """`holdout`: share of the new images held out for the threshold; `threshold_quantile`: None keeps the
    run's; `weights`: the backbone file when the recorded one has moved."""

    holdout: float = 0.1
    threshold_quantile: float | None = None
    batch_size: int = 16
    weights: str | None = None
    show_progress: bool = True


def new_images(folders: list[Path]) -> list[Sample]:
    """The images in each folder (not recursive), in order; a missing or empty folder is one UserError."""
    if not folders:
        raise UserError("--update needs at least one --images DIR of new good images")
    samples = []
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"--images {folder}: no such folder")
        found = list_images(folder)
        if not found:
            raise UserError(f"--images {folder}: no images in it")
        samples += [Sample(path, 0, "good") for path in found]
    return samples


def split_new(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Seeded split of the new images into (added first, held out); at least one is added first."""
    order = np.random.default_rng(seed).permutation(len(samples))
    n_hold = min(math.ceil(len(samples) * fraction), len(samples) - 1)
    return [samples[i] for i in sorted(order[n_hold:])], [samples[i] for i in sorted(order[:n_hold])]


def update_run(run_dir: Path, folders: list[Path], out_dir: Path, options: UpdateOptions) -> ModelConfig:
    """Merge the images of `folders` into the run `run_dir` and save the result to `out_dir` (replaced whole,
    atomically: the run may be `out_dir` itself)."""
    if not 0 <= options.holdout < 1:
        raise UserError(f"--holdout {options.holdout}: must be in [0, 1)")
    config, _, _ = load_run(run_dir)  # a missing, foreign or damaged run is refused here
    old = load_sums(run_dir, config)
    samples = new_images(folders)
    check_frames(samples, config, str(run_dir))
    features = feature_extractor(config, load_run_backbone(config, options.weights))
    grid = features.grid(config.input_hw)
    if grid != old.grid:
        raise UserError(f"{run_dir}: its sums are laid out for a {old.grid} grid, the model gives {grid}")
    geometry = Geometry.of(config)
    first, held_out = split_new(samples, options.holdout, config.seed)
    fit_options = FitOptions(batch_size=options.batch_size, show_progress=options.show_progress)
    new = accumulate(features, first, geometry, fit_options, StreamingGaussian(*old.mean.shape), "update")
    held = np.zeros(0, np.float32)
    if held_out:
        merged = old.merge(Sums.pooled(new, grid, config.cov_block))
        graph = scoring_graph(features, config, merged.mean.float(), merged.whitening(config.eps, config.prior_weight))
        held = score_then_add(graph, held_out, geometry, new, fit_options)
    if new.count == 0:
        raise UserError(f"--images {', '.join(map(str, folders))}: none of the images could be read")
    sums = old.merge(Sums.pooled(new, grid, config.cov_block))
    mean, factor = sums.mean.float(), sums.whitening(config.eps, config.prior_weight)
    updated = _updated_config(config, sums, statistics_digest(mean, factor), held, options, folders)
    save_run(out_dir, updated, mean, factor, sums)
    return updated


def _updated_config(
    config: ModelConfig, sums: Sums, digest: str, held: np.ndarray, options: UpdateOptions, folders: list[Path]
) -> ModelConfig:
    updated = config.model_copy(deep=True)
    quantile = options.threshold_quantile or config.threshold_quantile or 0.99
    scores = [*config.holdout_scores, *(round(float(s), 6) for s in held)]
    updated.n_train, updated.n_holdout, updated.holdout_scores = sums.count, len(scores), scores
    updated.threshold_quantile = quantile
    updated.threshold = threshold_from_scores(np.asarray(scores), quantile)
    updated.threshold_rule = (
        f"quantile {quantile} of {len(scores)} held-out good images' scores (the fit's and each update's), "
        "each taken before the image joined the statistics"
        if scores
        else "none: no held-out images; pass --threshold at run time"
    )
    updated.updates.append(
        Update(
            at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            images=sums.count - config.n_train,
            held_out=int(held.size),
            folders=[str(f.resolve()) for f in folders],
            statistics_before=config.statistics_sha256,
            statistics_after=digest,
            threshold_before=config.threshold,
            threshold_after=updated.threshold,
        )
    )
    return updated
