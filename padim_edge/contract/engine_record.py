"""The JSON record written beside every TensorRT engine, and the check that an engine suits this machine.

A serialised engine only runs on the TensorRT version and GPU it was built for, and it carries none of the
model's description. The record (`model.engine.json`) holds both: the build facts (TensorRT version, GPU,
compute capability, precision, profile) and the source ONNX's sha256 and padim-edge metadata. The runtime
reads it before deserialising, so a mismatch is one clear line instead of a TensorRT stack trace.
Torch-free and TensorRT-free: plain JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from padim_edge.contract.schema import validation_message
from padim_edge.errors import UserError

RECORD_FORMAT = 1
_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)
Shape = Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=4, max_length=4)]


class Machine(BaseModel):
    """What a serialised engine is tied to."""

    model_config = _STRICT

    tensorrt: str
    gpu: str
    compute_capability: str

    def describe(self) -> str:
        return f"TensorRT {self.tensorrt} on {self.gpu} (compute capability {self.compute_capability})"


class EngineRecord(BaseModel):
    """Build facts and model description of one engine file."""

    model_config = _STRICT

    machine: Machine
    precision: Literal["fp32", "fp16", "int8"]
    input_name: str
    #: Input shapes of the optimisation profile: "min", "opt", "max" -> [N, H, W, 3].
    profile: dict[Literal["min", "opt", "max"], Shape]
    onnx_path: str
    onnx_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    #: The padim-edge metadata document of the source ONNX (contract.metadata).
    onnx_metadata: dict[str, Any]
    engine_bytes: Annotated[int, Field(ge=1)]
    engine_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    fp32_layers: list[str] = Field(default_factory=list)
    dla_core: Annotated[int, Field(ge=0)] | None = None
    built_with: str = "padim-edge build"
    versions: dict[str, str] = Field(default_factory=dict)
    created: str = ""
    format_version: Literal[1] = RECORD_FORMAT

    @property
    def max_batch(self) -> int:
        return self.profile["max"][0]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), indent=2)

    @classmethod
    def from_json(cls, text: str, source: str) -> EngineRecord:
        """Parse a record; anything malformed, or another format version, is a UserError naming `source`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source}: not a valid engine record (invalid JSON: {exc.msg})") from None
        if not isinstance(data, dict):
            raise UserError(f"{source}: not a valid engine record (not a JSON object)")
        if data.get("format_version") != RECORD_FORMAT:
            raise UserError(f"{source}: unknown engine record format {data.get('format_version')!r}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise UserError(f"{source}: not a valid engine record: {validation_message(exc)}") from None


def record_path(engine: Path) -> Path:
    """`model.engine` -> `model.engine.json`."""
    return engine.with_name(engine.name + ".json")


def read_record(engine: Path) -> EngineRecord:
    """The record beside `engine`; its absence is a UserError saying how to get one."""
    path = record_path(engine)
    if not path.is_file():
        raise UserError(
            f"{engine}: no engine record {path.name} beside it (build engines with `padim-edge build MODEL.onnx`; "
            "for a trtexec engine add `--record-only`)"
        )
    return EngineRecord.from_json(path.read_text(), str(path))


def check_engine(record: EngineRecord, engine: Path, here: Machine) -> None:
    """Refuse an engine whose record does not belong to it or that was built for another machine."""
    rebuild = f"rebuild it here with `padim-edge build {record.onnx_path} --out {engine}`"
    size = engine.stat().st_size
    if size != record.engine_bytes:
        raise UserError(f"{engine}: {size} bytes, its record says {record.engine_bytes}: {rebuild}")
    built = record.machine
    differs = [
        f"{what} {theirs} (here {ours})"
        for what, theirs, ours in (
            ("TensorRT", built.tensorrt, here.tensorrt),
            ("GPU", built.gpu, here.gpu),
            ("compute capability", built.compute_capability, here.compute_capability),
        )
        if theirs != ours
    ]
    if differs:
        raise UserError(f"{engine} was built for {', '.join(differs)}: {rebuild}")
