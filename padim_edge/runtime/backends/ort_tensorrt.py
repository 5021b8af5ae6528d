"""onnxruntime's TensorRT execution provider: TensorRT speed from the `.onnx` itself, no separate build step.

onnxruntime builds the engine on first use and keeps it in a cache directory, so later starts are fast.
`open_backend` passes these options whenever the TensorRT provider is chosen (`--provider
TensorrtExecutionProvider`, or by default where onnxruntime-gpu has it), with the engine cache in
`.ort-trt-cache/<graph digest>-<precision>/` beside the model: onnxruntime names its cached engines after
the model file, so a re-export under the same name gets a new folder instead of the stale engine.
Needs onnxruntime-gpu built with TensorRT (Jetson: the Jetson Zoo wheels).

The provider has no per-layer precision: `fp16` runs the whole graph in fp16, the Mahalanobis head
included, whose squared distances overflow fp16 on strong anomalies (scores become inf). Keep fp32 here,
or use `padim-edge build --precision fp16`, which keeps the head in fp32.
"""

from __future__ import annotations

from pathlib import Path

from padim_edge.contract.metadata import ModelInfo
from padim_edge.contract.names import INPUT
from padim_edge.storage.atomic import sha256_file

PROVIDER = "TensorrtExecutionProvider"


def ort_tensorrt_cache(model: Path, info: ModelInfo, fp16: bool = False) -> Path:
    """The engine cache folder of `model`: keyed by its graph digest (the file's sha256 for a model exported
    before digests) and the precision, so an engine is only ever reused for the graph it was built from."""
    digest = info.export.graph_sha256 or sha256_file(model)
    return model.parent / ".ort-trt-cache" / f"{digest[:16]}-{'fp16' if fp16 else 'fp32'}"


def ort_tensorrt_options(
    cache_dir: Path,
    input_hw: tuple[int, int],
    batch: tuple[int, int, int] = (1, 1, 8),
    fp16: bool = False,
    workspace_mib: int | None = None,
    input_name: str = INPUT,
) -> dict[str, dict[str, str]]:
    """`provider_options` for the TensorRT provider: engine and timing caches in `cache_dir`, one batch profile.

    The explicit profile makes one engine cover batches `batch[0]..batch[2]`; without it onnxruntime
    rebuilds the engine whenever a larger batch arrives.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    shape = f"x{input_hw[0]}x{input_hw[1]}x3"
    options = {
        "trt_fp16_enable": str(fp16),
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(cache_dir),
        "trt_profile_min_shapes": f"{input_name}:{batch[0]}{shape}",
        "trt_profile_opt_shapes": f"{input_name}:{batch[1]}{shape}",
        "trt_profile_max_shapes": f"{input_name}:{batch[2]}{shape}",
    }
    if workspace_mib:
        options["trt_max_workspace_size"] = str(workspace_mib << 20)
    return {PROVIDER: options}
