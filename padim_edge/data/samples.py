"""Sample records and the folder-scanning helpers shared by the dataset layouts."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from padim_edge.errors import UserError
from padim_edge.imaging.decode import list_images

MIN_TRAIN_GOODS = 2


@dataclass(frozen=True)
class Sample:
    """One image: label 0 is good, 1 defective; mask_path is None for goods and unannotated defects."""

    path: Path
    label: int
    defect_type: str
    mask_path: Path | None = None


@dataclass
class DatasetSplit:
    """Training goods and the labelled test set of one dataset category."""

    name: str
    category: str
    train: list[Sample]
    test: list[Sample]


def require_dir(path: Path, what: str) -> Path:
    """Return `path` if it is a folder, else raise UserError naming it."""
    if not path.is_dir():
        raise UserError(f"{path}: {what} not found")
    return path


def category_dir(root: Path | None, category: str, kind: str) -> Path:
    """ROOT/<category> (ROOT itself for "" or "."), with UserErrors naming what is missing."""
    if root is None:
        raise UserError(f"--data-root is required for the {kind} dataset")
    root = require_dir(Path(root), f"{kind} data root")
    folder = root / category
    if not folder.is_dir():
        found = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir())) or "none"
        raise UserError(f"{folder}: category folder not found (folders in {root}: {found})")
    return folder


def train_goods(folder: Path) -> list[Sample]:
    """The good training images in `folder`; at least MIN_TRAIN_GOODS are required."""
    samples = [Sample(p, 0, "good") for p in list_images(require_dir(folder, "training folder"))]
    if len(samples) < MIN_TRAIN_GOODS:
        raise UserError(f"{folder}: {len(samples)} good training image(s), at least {MIN_TRAIN_GOODS} are needed")
    return samples


def scan_test(test_dir: Path, mask_for: Callable[[str, Path], Path | None]) -> list[Sample]:
    """Samples from test_dir/<type>/ (type `good` is label 0); warns once about defects without masks.

    `mask_for(defect_type, image_path)` returns the mask file or None. A missing test_dir gives [].
    """
    if not test_dir.is_dir():
        return []
    samples = []
    for type_dir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
        good = type_dir.name == "good"
        for path in list_images(type_dir):
            mask = None if good else mask_for(type_dir.name, path)
            samples.append(Sample(path, 0 if good else 1, type_dir.name, mask))
    unmasked = sum(s.label == 1 and s.mask_path is None for s in samples)
    if unmasked:
        warnings.warn(f"{test_dir}: {unmasked} defective test image(s) have no mask", stacklevel=3)
    return samples


def _pick(samples: list[Sample], count: int, rng: np.random.Generator) -> list[Sample]:
    """`count` samples drawn without replacement, in their original order."""
    if count >= len(samples):
        return list(samples)
    keep = np.sort(rng.choice(len(samples), size=count, replace=False))
    return [samples[i] for i in keep]


def _test_subset(test: list[Sample], limit: int, rng: np.random.Generator) -> list[Sample]:
    """At most `limit` test samples, goods and defects in proportion with at least one of each."""
    if limit >= len(test):
        return list(test)
    goods = [s for s in test if s.label == 0]
    defects = [s for s in test if s.label == 1]
    n_good = max(round(limit * len(goods) / len(test)), min(1, len(goods)))
    n_good = min(n_good, limit - min(1, len(defects)))
    picked = set(_pick(goods, n_good, rng) + _pick(defects, limit - n_good, rng))
    return [s for s in test if s in picked]


def limit_split(split: DatasetSplit, limit: int | None, seed: int = 0) -> DatasetSplit:
    """Seeded subsample to at most `limit` train and `limit` test samples (for quick demos and tests)."""
    if limit is None:
        return split
    if limit < MIN_TRAIN_GOODS:
        raise UserError(f"--limit must be at least {MIN_TRAIN_GOODS}, got {limit}")
    rng = np.random.default_rng(seed)
    train = _pick(split.train, limit, rng)
    return DatasetSplit(split.name, split.category, train, _test_subset(split.test, limit, rng))
