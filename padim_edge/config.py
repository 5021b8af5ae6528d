"""The fitted model's description: a JSON config that travels with the statistics, ONNX and engine.

Torch-free, so the runtime can read it from an artifact's metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from padim_edge.errors import UserError

FORMAT_VERSION = 1


@dataclass
class ModelConfig:
    """Everything needed to rebuild, deploy and audit a fitted PaDiM model."""

    backbone: str
    weights_source: str
    weights_sha256: str | None
    layers: list[int]
    channel_indices: list[int]
    d: int
    resize: int
    input_size: int
    mean: list[float]
    std: list[float]
    sigma: float = 4.0
    eps: float = 0.01
    seed: int = 0
    n_train: int = 0
    n_holdout: int = 0
    threshold: float | None = None
    threshold_rule: str = ""
    holdout_scores: list[float] = field(default_factory=list)
    dataset: str = ""
    category: str = ""
    data_root: str = ""
    statistics_sha256: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    input_layout: str = "NHWC uint8 BGR"
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> ModelConfig:
        """Parse a config dict; a missing key or unknown format version is a UserError naming `source`."""
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise UserError(f"{source}: unknown padim-edge format version {version!r} (expected {FORMAT_VERSION})")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise UserError(f"{source}: incomplete padim-edge config ({exc})") from None


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write a file through a temporary sibling and a rename, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artifacts are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (absent ones are skipped)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
