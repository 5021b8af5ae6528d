"""The JSON record written beside every TensorRT engine, and the check that an engine suits this machine.

A serialised engine only runs on the TensorRT version and GPU it was built for, and it carries none of the
model's description. The record (`model.engine.json`) holds both: the build facts (TensorRT version, GPU,
compute capability, precision, profile) and the source ONNX's sha256 and padim-edge metadata. The runtime
reads it before deserialising, so a mismatch is one clear line instead of a TensorRT stack trace.
Torch-free and TensorRT-free: plain JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from padim_edge.config import atomic_write
from padim_edge.errors import UserError

RECORD_FORMAT = 1


@dataclass(frozen=True)
class Machine:
    """What a serialised engine is tied to."""

    tensorrt: str
    gpu: str
    compute_capability: str

    def describe(self) -> str:
        return f"TensorRT {self.tensorrt} on {self.gpu} (compute capability {self.compute_capability})"


@dataclass
class EngineRecord:
    """Build facts and model description of one engine file."""

    machine: Machine
    precision: str
    input_name: str
    #: Input shapes of the optimisation profile: "min", "opt", "max" -> [N, S, S, 3].
    profile: dict[str, list[int]]
    onnx_path: str
    onnx_sha256: str
    #: The padim-edge metadata JSON of the source ONNX (see runtime.model_info).
    onnx_metadata: dict
    engine_bytes: int
    engine_sha256: str
    fp32_layers: list[str] = field(default_factory=list)
    dla_core: int | None = None
    built_with: str = "padim-edge build"
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    format_version: int = RECORD_FORMAT

    @property
    def max_batch(self) -> int:
        return self.profile["max"][0]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str, source: str) -> EngineRecord:
        """Parse a record; anything malformed is a UserError naming `source`."""
        try:
            data = json.loads(text)
            if data.get("format_version") != RECORD_FORMAT:
                raise UserError(f"{source}: unknown engine record format {data.get('format_version')!r}")
            known = {f.name for f in fields(cls)}
            data = {k: v for k, v in data.items() if k in known}
            data["machine"] = Machine(**data["machine"])
            return cls(**data)
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
            raise UserError(f"{source}: not a valid engine record ({type(exc).__name__}: {exc})") from None


def record_path(engine: Path) -> Path:
    """`model.engine` -> `model.engine.json`."""
    return engine.with_name(engine.name + ".json")


def write_record(engine: Path, record: EngineRecord) -> Path:
    """Write the record beside `engine`, atomically; returns its path."""
    path = record_path(engine)
    atomic_write(path, record.to_json() + "\n")
    return path


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
