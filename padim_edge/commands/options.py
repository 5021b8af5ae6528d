"""Option types shared by several commands (typer annotations), so a flag reads the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

MAX_BATCH = 256
MAX_THREADS = 256

DataRoot = Annotated[
    Optional[Path],
    typer.Option(
        "--data-root", help="Dataset root (default: the run's, else $PADIM_EDGE_DATA_ROOT, else ./data/mvtec)."
    ),
]
Dataset = Annotated[str, typer.Option("--dataset", help="Layout: mvtec, folder or elpv.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Threshold = Annotated[Optional[float], typer.Option(help="Override the model's threshold (a positive score).")]
Threads = Annotated[Optional[int], typer.Option(min=1, max=MAX_THREADS, help="Inference threads (default: all cores).")]
BackendName = Annotated[
    str,
    typer.Option(
        "--backend",
        help="What runs an .onnx model: onnxruntime, or openvino (x86 CPUs; pip install 'padim-edge[openvino]').",
    ),
]
Precision = Annotated[
    str,
    typer.Option(help="OpenVINO's inference precision: f32, or bf16 where the CPU has it (scores move: eval first)."),
]
Model = Annotated[Path, typer.Option(help="An exported .onnx or a built .engine.")]
