"""The metadata document every exported model carries: the fitted config plus the export facts.

It travels in the ONNX file's `metadata_props["padim_edge"]`, in a TensorRT engine's record and in a Triton
model configuration's parameters. `graph_sha256` binds it to the graph it was written into: a digest of
the graph's nodes and tensors (the statistics included), which `info` and the runtime recompute, so a
graph carrying another model's metadata is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from padim_edge.contract.names import INPUT, OUTPUTS
from padim_edge.contract.schema import ModelConfig, parse_config, validation_message
from padim_edge.errors import UserError


class ExportFacts(BaseModel):
    """How the graph was exported."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

    input: str = INPUT
    outputs: list[str] = Field(default_factory=lambda: list(OUTPUTS))
    opset: Annotated[int, Field(ge=7)]
    statistics_dtype: Literal["float32", "float16"] = "float32"
    #: "float32", or "int8" for a backbone quantised for onnxruntime (QDQ).
    backbone_precision: Literal["float32", "int8"] = "float32"
    int8: dict[str, str] = Field(default_factory=dict)
    graph_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | Literal[""] = ""
    versions: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    """What the runtime knows of a model: its fitted config and its export facts."""

    config: ModelConfig
    export: ExportFacts

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.config.input_hw

    @property
    def threshold(self) -> float | None:
        return self.config.threshold

    def document(self) -> dict[str, Any]:
        """The JSON-ready metadata document."""
        return {**self.config.model_dump(), "export": self.export.model_dump()}

    def to_json(self) -> str:
        return json.dumps(self.document(), separators=(",", ":"))


def parse_metadata(text: str | None, source: str) -> ModelInfo:
    """Parse a model's metadata document; missing, foreign or invalid metadata is one UserError."""
    if not text:
        raise UserError(f"{source}: no padim-edge metadata (export the model with padim-edge export)")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise UserError(f"{source}: padim-edge metadata is not valid JSON") from None
    if not isinstance(doc, dict):
        raise UserError(f"{source}: padim-edge metadata is not a JSON object")
    export = doc.pop("export", None)
    config = parse_config(doc, source)
    try:
        facts = ExportFacts.model_validate(_export_from_format_1(export) if doc.get("format_version") == 1 else export)
    except ValidationError as exc:
        raise UserError(f"{source}: invalid export facts in its metadata: {validation_message(exc)}") from None
    return ModelInfo(config, facts)


def document_metadata(document: dict, source: str) -> ModelInfo:
    """Parse a metadata document already decoded from JSON (an engine record's copy, say)."""
    return parse_metadata(json.dumps(document), source)


def _export_from_format_1(export: Any) -> Any:
    """Format 1's export section: input/outputs were descriptions, int8 a flag beside the details."""
    if not isinstance(export, dict):
        return export
    int8 = export.get("int8_backbone") is True
    return {
        "opset": export.get("opset"),
        "statistics_dtype": export.get("statistics_dtype", "float32"),
        "backbone_precision": "int8" if int8 else "float32",
        "int8": export.get("int8", {}) if int8 else {},
        "versions": export.get("versions", {}),
    }


IO = list[tuple[str, str, list]]  # (name, element type, shape) of graph inputs or outputs


def check_io(info: ModelInfo, inputs: IO, outputs: IO, source: str) -> None:
    """Refuse a graph whose inputs/outputs (name, element type, shape) differ from what its metadata
    describes: one uint8 `frames` [N, H, W, 3] input, float32 `anomaly_map` [N, 1, H, W] and `score` [N]
    outputs. A dimension the graph leaves symbolic (a str or None) matches any value."""
    h, w = info.input_hw
    expected = {
        "input": {INPUT: ("uint8", [None, h, w, 3])},
        "outputs": {OUTPUTS[0]: ("float32", [None, 1, h, w]), OUTPUTS[1]: ("float32", [None])},
    }
    for kind, got in (("input", inputs), ("outputs", outputs)):
        want = expected[kind]
        ok = len(got) == len(want) and all(
            name in want
            and dtype == want[name][0]
            and len(shape) == len(want[name][1])
            and all(not isinstance(d, int) or e is None or d == e for d, e in zip(shape, want[name][1]))
            for name, dtype, shape in got
        )
        if not ok:
            described = ", ".join(f"{n} {t} {list(s)}" for n, t, s in got)
            wanted = ", ".join(f"{n} {t} {['N' if d is None else d for d in s]}" for n, (t, s) in want.items())
            raise UserError(f"{source}: graph {kind} ({described}) do not match its metadata ({wanted})")
