"""`padim-edge info`: the metadata a model carries, after checking it belongs to the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from padim_edge.commands.options import BackendName, Precision


def info(
    model: Annotated[Path, typer.Argument(help="An exported .onnx (or a built .engine).")],
    backend_name: BackendName = "onnxruntime",
    precision: Precision = "f32",
) -> None:
    """Print the metadata carried by a model (config, threshold, checksums, versions), once its graph digest,
    inputs and outputs have been checked against it and the backend has loaded it ("checked" names which)."""
    from padim_edge.runtime.backends import open_backend

    backend = open_backend(model, backend=backend_name, precision=precision)
    try:
        document = backend.info.document()
        document["checked"] = backend.describe()
        typer.echo(json.dumps(document, indent=2))
    finally:
        backend.close()
