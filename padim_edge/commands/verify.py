"""`padim-edge verify`: the exported graph (onnxruntime) against the PyTorch reference on the run's images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from padim_edge.commands.options import DataRoot


def verify(
    run_dir: Annotated[Path, typer.Argument(help="A fitted and exported run.")],
    model: Annotated[Optional[Path], typer.Option(help="ONNX to check (default RUN_DIR/model.onnx).")] = None,
    data_root: DataRoot = None,
    images: Annotated[int, typer.Option(min=2, max=4096, help="How many of the run's images to compare on.")] = 32,
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="Largest map difference, relative to the map range.")
    ] = 1e-4,
) -> None:
    """Compare the exported graph (onnxruntime) with the PyTorch reference; exit 1 past the tolerance."""
    from padim_edge.data import evenly_spaced, load_run_dataset
    from padim_edge.model.run_dir import read_config
    from padim_edge.verify import check_parity

    split = load_run_dataset(read_config(run_dir), data_root)
    samples = evenly_spaced(split.test or split.train, images)
    parity = check_parity(run_dir, model or run_dir / "model.onnx", samples, tolerance)
    typer.echo(json.dumps(parity.as_dict(), indent=2))
    if not parity.ok:
        raise typer.Exit(1)
