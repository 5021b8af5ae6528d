"""The fitted model's description (`config.json`, and the heart of every artifact's metadata), validated.

Every field is checked for type and range when a config is read, whoever wrote it: a hand-edited
`config.json`, a tampered model's metadata or a file from another version is one clear line, never a
traceback deeper in. Format 1 (padim-edge 0.1, square centre-cropped input) is read by migrating it to
format 2 where the two mean the same thing, and refused with a one-line reason where they do not.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from padim_edge.contract.architectures import ARCHITECTURES
from padim_edge.errors import UserError

FORMAT_VERSION = 2
#: How a frame of any size is placed on the model's input (imaging.geometry), and how it may be turned first.
ResizeMode = Literal["stretch", "letterbox", "crop"]
AlignMode = Literal["none", "principal_axis"]
RESIZE_MODES: tuple[str, ...] = get_args(ResizeMode)
ALIGN_MODES: tuple[str, ...] = get_args(AlignMode)
MAX_INPUT_SIDE = 4096

Positive = Annotated[float, Field(gt=0)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Update(BaseModel):
    """One `fit --update`: what was added, and the run's statistics digest and threshold before and after."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

    at: str  # UTC, ISO 8601
    images: Annotated[int, Field(ge=1)]
    held_out: Annotated[int, Field(ge=0)]
    folders: list[str]
    statistics_before: Sha256
    statistics_after: Sha256
    threshold_before: Positive | None
    threshold_after: Positive | None


Unit = Annotated[float, Field(ge=0, le=1)]


class SelectionTrial(BaseModel):
    """One candidate of `fit --select`: its settings as fit flags, and how well it told held-out good images
    from synthetic defects (image AUROC, over all of them and per kind)."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

    name: str
    flags: str
    auroc: Unit
    by_kind: dict[str, Unit]
    chosen: bool


class ModelConfig(BaseModel):
    """Everything needed to rebuild, deploy and audit a fitted PaDiM model."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, validate_assignment=True)

    format_version: Literal[2] = FORMAT_VERSION
    backbone: str
    weights_source: str
    weights_sha256: Sha256 | None
    #: Feature maps read by the embedding, in forward order (see contract.architectures).
    layers: Annotated[list[str], Field(min_length=1)]
    #: Local average of each tapped map before the gather, one kernel size per layer (1 = none), stride 1.
    pooling: list[Annotated[int, Field(ge=1, le=9)]]
    #: One covariance per position (1), or one shared by each k x k tile of the feature grid.
    cov_block: Annotated[int, Field(ge=1, le=8)] = 1
    #: The d channels kept, indices into the concatenated taps, increasing.
    channel_indices: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]
    d: Annotated[int, Field(ge=1)]
    input_height: Annotated[int, Field(ge=32, le=MAX_INPUT_SIDE)]
    input_width: Annotated[int, Field(ge=32, le=MAX_INPUT_SIDE)]
    resize_mode: ResizeMode = "stretch"
    align: AlignMode = "none"
    mean: Annotated[list[float], Field(min_length=3, max_length=3)]
    std: Annotated[list[Positive], Field(min_length=3, max_length=3)]
    sigma: Annotated[float, Field(gt=0, le=64)] = 4.0
    eps: Positive = 0.01
    #: Weight, in samples, of the prior pulling each tile's covariance toward the one pooled over every
    #: position (model.sums; 0: none, as in runs fitted before it existed).
    prior_weight: Annotated[float, Field(ge=0)] = 0.0
    seed: Annotated[int, Field(ge=0)] = 0
    n_train: Annotated[int, Field(ge=0)] = 0
    n_holdout: Annotated[int, Field(ge=0)] = 0
    threshold: Positive | None = None
    threshold_rule: str = ""
    threshold_quantile: Annotated[float, Field(gt=0, le=1)] | None = None
    holdout_scores: list[float] = Field(default_factory=list)
    dataset: str = ""
    category: str = ""
    data_root: str = ""
    statistics_sha256: Sha256 | Literal[""] = ""
    #: The float64 sums an update merges into (model.sums); "" for runs fitted before they were kept.
    sums_sha256: Sha256 | Literal[""] = ""
    #: The training frames' sizes ([H, W], distinct, from a spread of up to 64) and pixel layout: what an
    #: update's images must match.
    frame_sizes: list[Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list
    )
    frame_layout: Literal["", "gray", "color", "mixed"] = ""
    updates: list[Update] = Field(default_factory=list)
    #: `fit --select`: every candidate tried, and the rule that chose (empty for a plain fit).
    selection: list[SelectionTrial] = Field(default_factory=list)
    selection_rule: str = ""
    versions: dict[str, str] = Field(default_factory=dict)
    input_layout: Literal["NHWC uint8 BGR"] = "NHWC uint8 BGR"

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        arch = ARCHITECTURES.get(self.backbone)
        if arch is None:
            raise ValueError(f"backbone: unknown {self.backbone!r} (known: {', '.join(ARCHITECTURES)})")
        unknown = [t for t in self.layers if t not in arch.taps]
        if unknown:
            raise ValueError(f"layers: {unknown} are not taps of {self.backbone} ({', '.join(arch.taps)})")
        order = list(arch.taps)
        positions = [order.index(t) for t in self.layers]
        if positions != sorted(set(positions)):
            raise ValueError(f"layers: {self.layers} must be distinct and in forward order")
        total = sum(arch.taps[t].channels for t in self.layers)
        idx = self.channel_indices
        if idx != sorted(set(idx)) or idx[-1] >= total:
            raise ValueError(f"channel_indices: must increase, each below {total} (channels of {self.layers})")
        if self.d != len(idx):
            raise ValueError(f"d: {self.d} but {len(idx)} channel_indices")
        if len(self.pooling) != len(self.layers):
            raise ValueError(f"pooling: {len(self.pooling)} kernel sizes for {len(self.layers)} layers")
        return self

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.input_height, self.input_width

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), indent=2)


def validation_message(exc: ValidationError) -> str:
    """pydantic's errors as one line: `field: message; field: message`."""
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "config"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(message if message.startswith(f"{where}:") else f"{where}: {message}")
    more = f" (+{len(exc.errors()) - 3} more)" if len(exc.errors()) > 3 else ""
    return "; ".join(parts) + more


def parse_config(data: Any, source: str) -> ModelConfig:
    """Validate a config document (a dict from JSON); anything wrong is one UserError naming `source`."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a padim-edge config must be a JSON object, got {type(data).__name__}")
    version = data.get("format_version")
    if version == 1:
        data = _from_format_1(data, source)
    elif version != FORMAT_VERSION:
        raise UserError(f"{source}: unknown padim-edge format version {version!r} (this version reads 1 and 2)")
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{source}: invalid padim-edge config: {validation_message(exc)}") from None


# Format 1 named the three stages 1, 2, 3; these are the same module outputs.
_FORMAT_1_STAGES = {
    "efficientnet_lite0": ("blocks.2", "blocks.4", "blocks.10"),
    "resnet18": ("layer1", "layer2", "layer3"),
    "wide_resnet50_2": ("layer1", "layer2", "layer3"),
}


def _from_format_1(data: dict, source: str) -> dict:
    """Format 1 resized the shorter side to `resize` and centre-cropped `input_size`: with resize equal to
    input_size that is format 2's `crop` mode exactly; otherwise it has no format-2 equivalent."""
    data = dict(data)
    resize, size = data.pop("resize", None), data.pop("input_size", None)
    if not isinstance(size, int) or resize != size:
        raise UserError(
            f"{source}: a padim-edge 0.1 model (format 1) resized to {resize} and cropped {size}; this version "
            "cannot reproduce that pre-processing: refit with this version (padim-edge fit)"
        )
    stages = _FORMAT_1_STAGES.get(data.get("backbone"), ())
    layers = data.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, int) and 1 <= x <= len(stages) for x in layers):
        raise UserError(f"{source}: format 1 config with invalid layers {layers!r}")
    data.update(
        format_version=FORMAT_VERSION,
        layers=[stages[x - 1] for x in layers],
        pooling=[1] * len(layers),
        input_height=size,
        input_width=size,
        resize_mode="crop",
    )
    return data
