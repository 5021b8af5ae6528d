"""What a served padim-edge model looks like on a Triton server, shared by the repository writer, `serve`
and the Triton client: tensor names, per-item dims (the batch dimension is implicit) and where the metadata
lives. Torch-free and dependency-free."""

from __future__ import annotations

import re
from pathlib import Path

from padim_edge.contract.metadata import ModelInfo
from padim_edge.contract.names import ANOMALY_MAP, INPUT, METADATA_KEY, SCORE

__all__ = ["ANOMALY_MAP", "INPUT", "SCORE"]

#: Key of the model config `parameters` entry holding the padim-edge metadata JSON (as in the ONNX file).
PARAMETER_KEY = METADATA_KEY
#: Largest batch Triton's dynamic batcher forms, and how long it waits for more requests to join one.
MAX_BATCH = 8
QUEUE_DELAY_US = 2000


def input_dims(info: ModelInfo) -> list[int]:
    """Per-item dims of `frames`: uint8 [H, W, 3] BGR."""
    return [*info.input_hw, 3]


def map_dims(info: ModelInfo) -> list[int]:
    """Per-item dims of `anomaly_map`: float32 [1, H, W]."""
    return [1, *info.input_hw]


#: Per-item dims of `score`: Triton needs a non-empty shape, so the graph's [N] output is served as [N, 1].
SCORE_DIMS = [1]


def default_name(model: Path, info: ModelInfo) -> str:
    """The served model's default name: its category (screw, mono), else the file's stem, with characters
    Triton refuses replaced by '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", info.config.category or model.stem)
