"""ELPV solar-cell electroluminescence images, read through the `elpv-dataset` package.

Only the package's data/labels.csv (columns: path, probability, type) is read here; images are decoded
later, batch by batch. Category `mono` or `poly` selects the cell type. Rules:

- good: defect probability 0; defective: probability 2/3 or 1; probability 1/3 ("possibly
  defective") is left out of both train and test;
- goods are shuffled with numpy default_rng(0); 25% of them go to test, the rest to train;
- every defective cell goes to test. There are no pixel masks (mask_path is always None);
- `limit` subsamples train and test (seeded) for quick demos; the data root is not used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from padim_edge.data.samples import DatasetSplit, Sample, limit_split
from padim_edge.errors import UserError

CATEGORIES = ("mono", "poly")
TEST_GOOD_FRACTION = 0.25
SEED = 0


def labels_file() -> Path:
    """data/labels.csv inside the installed elpv_dataset package (the package is not imported)."""
    spec = importlib.util.find_spec("elpv_dataset")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the elpv dataset needs its package: pip install elpv-dataset==1.0.0.post1")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "labels.csv"
    if not path.is_file():
        raise UserError(f"{path}: elpv labels file not found; reinstall elpv-dataset==1.0.0.post1")
    return path


def read_labels(path: Path) -> list[tuple[Path, float, str]]:
    """(image path, defect probability, cell type) for each whitespace-separated row of labels.csv."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            name, probability, cell_type = line.split()
            rows.append((path.parent / name, float(probability), cell_type))
    return rows


def load_elpv(category: str, limit: int | None = None) -> DatasetSplit:
    """Split the `mono` or `poly` cells by the rules in the module docstring."""
    if category not in CATEGORIES:
        raise UserError(f"elpv category must be one of {', '.join(CATEGORIES)}, got {category!r}")
    rows = [(p, prob) for p, prob, t in read_labels(labels_file()) if t == category]
    goods = [Sample(p, 0, "good") for p, prob in rows if prob == 0.0]
    defects = [Sample(p, 1, "defective") for p, prob in rows if prob > 0.5]
    order = np.random.default_rng(SEED).permutation(len(goods))
    n_test = round(TEST_GOOD_FRACTION * len(goods))
    train = sorted((goods[i] for i in order[n_test:]), key=lambda s: s.path)
    test = sorted([goods[i] for i in order[:n_test]] + defects, key=lambda s: s.path)
    return limit_split(DatasetSplit("elpv", category, train, test), limit)
