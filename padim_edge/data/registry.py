"""Pick a dataset loader by name, and find a dataset's root folder."""

from __future__ import annotations

import os
from pathlib import Path

from padim_edge.contract.schema import ModelConfig
from padim_edge.data.elpv import load_elpv
from padim_edge.data.folder import load_folder
from padim_edge.data.mvtec import load_mvtec
from padim_edge.data.samples import DatasetSplit, limit_split
from padim_edge.errors import UserError

KINDS = ("mvtec", "folder", "elpv")
DEFAULT_ROOT = "data/mvtec"


def data_root(root: Path | None, dataset: str, config: ModelConfig | None = None) -> Path | None:
    """The root folder: `root` if given, else the one a fitted run recorded, else $PADIM_EDGE_DATA_ROOT,
    else ./data/mvtec. None for ELPV, which comes from its package."""
    if dataset == "elpv":
        return None
    if root is not None:
        return root
    if config is not None and config.data_root:
        return Path(config.data_root)
    return Path(os.environ.get("PADIM_EDGE_DATA_ROOT", DEFAULT_ROOT))


def load_dataset(kind: str, root: Path | None, category: str, limit: int | None = None) -> DatasetSplit:
    """Load a dataset split; `kind` is mvtec, folder or elpv (which ignores `root`)."""
    if kind == "elpv":
        return load_elpv(category, limit)
    if kind == "mvtec":
        return limit_split(load_mvtec(root, category), limit)
    if kind == "folder":
        return limit_split(load_folder(root, category), limit)
    raise UserError(f"unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}")


def load_run_dataset(config: ModelConfig, root: Path | None = None, limit: int | None = None) -> DatasetSplit:
    """The dataset a run was fitted on (its recorded kind, category and root, unless `root` overrides it)."""
    return load_dataset(config.dataset, data_root(root, config.dataset, config), config.category, limit)
