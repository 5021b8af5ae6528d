"""What the runtime needs to know about a model, read from the metadata the export wrote into it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from padim_edge.config import ModelConfig
from padim_edge.errors import UserError

METADATA_KEY = "padim_edge"


@dataclass(frozen=True)
class ModelInfo:
    """The fitted config plus the export facts (I/O names, statistics dtype)."""

    config: ModelConfig
    export: dict

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @property
    def threshold(self) -> float | None:
        return self.config.threshold


def parse_metadata(text: str | None, source: str) -> ModelInfo:
    """Parse the JSON document from a model's metadata; missing or foreign metadata is a UserError."""
    if not text:
        raise UserError(f"{source}: no padim-edge metadata (export it with padim-edge export)")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise UserError(f"{source}: padim-edge metadata is not valid JSON") from None
    if not isinstance(doc, dict):
        raise UserError(f"{source}: padim-edge metadata is not a JSON object")
    return ModelInfo(ModelConfig.from_dict(doc, source), doc.get("export", {}))
