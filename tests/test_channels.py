"""Channel choice: the pooled covariance streamed like the statistics, the least-redundant pick, and a fit
whose channels depend on the training images only (real ELPV cell pairs), not on the seed."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from pairs import CELLS_INPUT
from safetensors.torch import load_file

from padim_edge.data import load_dataset
from padim_edge.fit import FitOptions, fit
from padim_edge.model.channels import PooledCovariance, least_redundant, random_channels

#: padim-edge 0.2's default: three taps, 100 of their 176 channels (a choice to make).
PREVIOUS = {"layers": ("blocks.2", "blocks.4", "blocks.10"), "d": 100, "pooling": (3, 1, 1)}


def test_pooled_covariance_equals_two_pass_numpy() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(5.0, 1.0, size=(23, 6, 4)) * rng.uniform(0.1, 10, size=(1, 1, 4)) + rng.normal(size=(1, 6, 4))
    pooled = PooledCovariance(6, 4)
    for chunk in np.array_split(data, [1, 9, 10]):  # uneven batches, one of a single image
        pooled.update(torch.from_numpy(chunk))
    centred = data - data.mean(axis=0)  # around each position's own mean
    expected = np.einsum("npi,npj->ij", centred, centred) / (6 * (23 - 1))
    np.testing.assert_allclose(pooled.covariance(), expected, rtol=1e-9, atol=1e-12)


def test_least_redundant_skips_copies_and_ignores_scale() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=(500, 4))
    # channels 0-3 independent; 4 is 100 x channel 0 (a scaled copy); 5 is nearly channel 1
    x = np.column_stack([base, 100 * base[:, 0], base[:, 1] + 0.01 * rng.normal(size=500)])
    picked = least_redundant(np.cov(x, rowvar=False), 4)
    assert len(picked) == 4
    assert len(set(picked) & {0, 4}) == 1 and len(set(picked) & {1, 5}) == 1
    assert {2, 3} <= set(picked)


def test_least_redundant_fit_does_not_depend_on_the_seed(cells_root: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cells test set has no pixel masks, by design
        split = load_dataset("folder", cells_root, "cells")
    configs = [
        fit(
            split,
            tmp_path / f"seed{seed}",
            FitOptions(input_size=CELLS_INPUT, channels="least-redundant", seed=seed, show_progress=False, **PREVIOUS),
            cells_root,
        )
        for seed in (0, 1)
    ]
    assert configs[0].channel_indices == configs[1].channel_indices
    assert configs[0].channel_indices != random_channels(176, 100, 0)
    assert configs[0].d == 100 and configs[0].threshold is not None


def test_the_default_keeps_every_channel_whatever_the_seed(cells_root: Path, tmp_path: Path) -> None:
    """The default taps' channels are all kept: no draw, so two seeds give the same statistics."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cells test set has no pixel masks, by design
        split = load_dataset("folder", cells_root, "cells")
    options = {"input_size": CELLS_INPUT, "holdout": 0.0, "show_progress": False}
    configs = [fit(split, tmp_path / f"s{seed}", FitOptions(seed=seed, **options), cells_root) for seed in (0, 1)]
    assert configs[0].channel_indices == configs[1].channel_indices == list(range(152))
    first, second = (load_file(str(tmp_path / f"s{seed}" / "statistics.safetensors")) for seed in (0, 1))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
