"""int8 backbone for onnxruntime CPU: static post-training quantisation (QDQ), calibrated on good images.

Only the backbone's nodes (`/backbone/...`) are quantised: uint8 activations, int8 per-channel weights. The
pre-processing, the gather/upsample, the Mahalanobis head and the post-processing stay float32: squared
distances need the range, and the head is memory-bound, so int8 would not speed it up. The calibration
frames must be prepared exactly as the runtime prepares camera frames (uint8 BGR NHWC at the input size).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from padim_edge.contract.names import BACKBONE, INPUT
from padim_edge.contract.schema import ModelConfig
from padim_edge.errors import UserError
from padim_edge.model_file.digest import graph_digest
from padim_edge.model_file.external_data import external_data_files
from padim_edge.model_file.onnx_io import metadata_of, set_metadata
from padim_edge.storage.atomic import clean_stale, staging_prefix

# Activation ranges clip the top 0.01 % of calibration values: plain min/max ranges let a few outlier
# activations stretch the int8 scale (the accuracy of both is in make bench's int8 table).
PERCENTILE = 99.99


@dataclass
class QuantizeResult:
    """What a quantisation wrote."""

    path: Path
    bytes_on_disk: int
    quantised_nodes: int  # QuantizeLinear nodes inserted
    calibration_images: int


class FrameReader:
    """onnxruntime's CalibrationDataReader protocol over prepared frames, `batch` at a time."""

    def __init__(self, frames: np.ndarray, batch: int) -> None:
        self._batches: Iterator[np.ndarray] = iter([frames[i : i + batch] for i in range(0, len(frames), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        chunk = next(self._batches, None)
        return None if chunk is None else {INPUT: np.ascontiguousarray(chunk)}


def good_training_frames(config: ModelConfig, count: int, data_root: Path | None = None) -> np.ndarray:
    """`count` good training images of the run's dataset, evenly spaced, prepared like the runtime's frames."""
    from padim_edge.data import evenly_spaced, iter_batches, load_run_dataset
    from padim_edge.imaging.geometry import Geometry

    train = load_run_dataset(config, data_root).train
    if not train:
        raise UserError(f"{config.dataset}/{config.category}: no good training images to calibrate on")
    geometry = Geometry.of(config)
    batches = [b.images for b in iter_batches(evenly_spaced(train, count), 16, geometry)]
    if not batches:
        raise UserError(f"{config.dataset}/{config.category}: no readable training images to calibrate on")
    return np.concatenate(batches)


def cpu_has_vnni() -> bool:
    """Whether this x86 CPU has VNNI (AVX512-VNNI or AVX-VNNI): int8 dot products without saturation."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = (
        next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "")
        if cpuinfo.exists()
        else ""
    )
    return bool({"avx512_vnni", "avx_vnni"} & set(flags.split()))


def quantize_backbone(
    model_path: Path,
    out_path: Path,
    calibration_frames: np.ndarray,
    batch: int = 8,
    per_channel: bool = True,
    reduce_range: bool | None = None,
) -> QuantizeResult:
    """Write `out_path`: `model_path` with its backbone quantised to int8 (QDQ), atomically.

    `calibration_frames`: uint8 [N, S, S, 3] BGR good images, prepared like the runtime's input.
    `reduce_range` (default: where this CPU lacks VNNI) keeps weights to 7 bits: onnxruntime's x86 int8
    kernels without VNNI add pairs of u8 x s8 products in int16 (VPMADDUBSW), which saturates with
    full-range weights and wrecks the features; onnxruntime recommends 7-bit weights there.
    """
    reduce_range = not cpu_has_vnni() if reduce_range is None else reduce_range
    frames = np.asarray(calibration_frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise UserError(f"calibration frames must be uint8 [N, S, S, 3] with N >= 1, got {frames.dtype} {frames.shape}")
    source = onnx.load(str(model_path), load_external_data=False)
    external = bool(external_data_files(source, model_path))  # refused if outside the model's folder
    out_path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out_path.parent)
    data_name = out_path.name + ".data"
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=staging_prefix(out_path)) as tmp:
        staged = Path(tmp) / out_path.name
        _quantize(model_path, staged, FrameReader(frames, batch), per_channel, reduce_range, external)
        quantised = _finish(staged, source, len(frames), per_channel, reduce_range)
        onnx.checker.check_model(str(staged))
        if external:
            os.replace(Path(tmp) / data_name, out_path.parent / data_name)
        os.replace(staged, out_path)
    data = out_path.parent / data_name
    size = out_path.stat().st_size + (data.stat().st_size if external else 0)
    return QuantizeResult(out_path, size, quantised, len(frames))


def _quantize(
    model_path: Path, out: Path, reader: FrameReader, per_channel: bool, reduce_range: bool, external: bool
) -> None:
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = out.with_name("prepared.onnx")
    # Symbolic shape inference only: onnxruntime's optimisation pass here would rename the nodes.
    quant_pre_process(str(model_path), str(prepared), skip_optimization=True, save_as_external_data=external)
    nodes = onnx.load(str(prepared), load_external_data=False).graph.node
    ort.set_default_logger_severity(3)  # calibration sessions warn about every unused shape constant
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the histogram collector prints its progress
            quantize_static(
                str(prepared),
                str(out),
                reader,
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=[n.name for n in nodes if not n.name.startswith(BACKBONE)],
                calibrate_method=CalibrationMethod.Percentile,
                extra_options={"CalibPercentile": PERCENTILE},
                use_external_data_format=external,
            )
    finally:
        ort.set_default_logger_severity(2)


def _finish(path: Path, source: onnx.ModelProto, images: int, per_channel: bool, reduce_range: bool) -> int:
    """Carry the fp32 model's metadata over (marking the int8 backbone and the new graph's digest), drop
    unused initializers. Returns the number of QuantizeLinear nodes."""
    model = onnx.load(str(path), load_external_data=True)
    used = {name for node in model.graph.node for name in node.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)
    info = metadata_of(source, str(path))
    export = info.export.model_copy(
        update={
            "backbone_precision": "int8",
            "int8": {
                "format": "QDQ",
                "activations": "uint8",
                "weights": ("int8 per-channel" if per_channel else "int8 per-tensor")
                + (", 7-bit range (for CPUs without VNNI)" if reduce_range else ""),
                "calibration": f"percentile {PERCENTILE} on {images} good training images",
                "float32": "preprocess, embed, head, post",
            },
            "graph_sha256": graph_digest(model),
        }
    )
    set_metadata(model, type(info)(info.config, export))
    model.producer_name, model.producer_version = source.producer_name, source.producer_version
    external = any(i.data_location == onnx.TensorProto.EXTERNAL for i in source.graph.initializer)
    if external:
        onnx.save_model(
            model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=path.name + ".data"
        )
    else:
        onnx.save_model(model, str(path))
    return sum(n.op_type == "QuantizeLinear" for n in model.graph.node)
