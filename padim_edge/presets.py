"""Named fit settings: what `fit --preset NAME` applies and what `fit --select` chooses among.

Each one moves what docs/choices.md found to matter, and nothing else (eps and the prior stay the
default's): textures (taps, pooling, size together), the input size, the covariance tiles. Kept apart
from padim_edge.select so that the CLI checks a name without importing PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

from padim_edge.errors import UserError


@dataclass(frozen=True)
class Preset:
    """FitOptions fields, and the same as fit flags."""

    name: str
    options: dict
    flags: str


#: The default first: `--select` keeps it on every tie.
PRESETS = (
    Preset("default", {}, ""),
    Preset(
        "texture",
        {"layers": ("blocks.2", "blocks.4", "blocks.10"), "d": 176, "pooling": (3,), "input_size": 192},
        "--layers blocks.2,blocks.4,blocks.10 -d 176 --pooling 3 --input-size 192",
    ),
    Preset("size-288", {"input_size": 288}, "--input-size 288"),
    Preset("tiles-4", {"cov_block": 4}, "--cov-block 4"),
)


def preset(name: str) -> Preset:
    """The preset called `name`; an unknown name is one UserError listing the known ones."""
    for known in PRESETS:
        if known.name == name:
            return known
    raise UserError(f"--preset {name}: unknown (known: {', '.join(p.name for p in PRESETS)})")
