"""`padim-edge triton-repo`: a Triton model repository entry for an exported model (no refit, no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from padim_edge.contract.wire import MAX_BATCH, QUEUE_DELAY_US


def triton_repo(
    model: Annotated[Path, typer.Argument(help="An exported .onnx (a .engine + record beside it adds <name>_trt).")],
    repository: Annotated[Path, typer.Argument(help="The model repository folder (created if needed).")],
    name: Annotated[Optional[str], typer.Option(help="Model name (default: the model's category).")] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="max_batch_size of the ONNX entry.")] = MAX_BATCH,
    queue_delay_us: Annotated[int, typer.Option(min=0, help="Dynamic batcher queue delay, microseconds.")] = (
        QUEUE_DELAY_US
    ),
    instances: Annotated[int, typer.Option(min=1, help="Model instances per device.")] = 1,
    gpu: Annotated[
        bool, typer.Option("--gpu", help="KIND_GPU instances for the ONNX entry (default KIND_CPU).")
    ] = False,
    ort_tensorrt: Annotated[
        bool, typer.Option("--ort-tensorrt", help="onnxruntime's TensorRT accelerator on the ONNX entry (GPU, fp32).")
    ] = False,
) -> None:
    """Write REPOSITORY/<name>/config.pbtxt + 1/model.onnx (and <name>_trt/ for a built engine) for Triton."""
    from padim_edge.serving.triton_repository import RepositoryOptions, write_repository

    options = RepositoryOptions(name, max_batch, queue_delay_us, instances, gpu, ort_tensorrt)
    for entry in write_repository(model, repository, options):
        typer.echo(f"wrote {entry}")
