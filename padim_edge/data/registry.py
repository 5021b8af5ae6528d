"""Pick a dataset loader by name."""

from __future__ import annotations

from pathlib import Path

from padim_edge.data.elpv import load_elpv
from padim_edge.data.folder import load_folder
from padim_edge.data.mvtec import load_mvtec
from padim_edge.data.samples import DatasetSplit, limit_split
from padim_edge.errors import UserError

KINDS = ("mvtec", "folder", "elpv")


def load_dataset(kind: str, root: Path | None, category: str, limit: int | None = None) -> DatasetSplit:
    """Load a dataset split; `kind` is mvtec, folder or elpv (which ignores `root`)."""
    if kind == "elpv":
        return load_elpv(category, limit)
    if kind == "mvtec":
        return limit_split(load_mvtec(root, category), limit)
    if kind == "folder":
        return limit_split(load_folder(root, category), limit)
    raise UserError(f"unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}")
