"""`padim-edge predict`: score image files through the same pipeline as `run`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from padim_edge.commands.options import MAX_BATCH, Model, Threads, Threshold


def predict(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    model: Model,
    threshold: Threshold = None,
    overlay_dir: Annotated[
        Optional[Path], typer.Option(help="Write each image's heatmap overlay here (relative paths kept).")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="Images per inference call.")] = 8,
    threads: Threads = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines (docs/results.md) instead of a table.")] = False,
) -> None:
    """Score images: verdict (OK, NG; ? without threshold), score, normalised score (score / threshold), name.

    Every readable image is scored; each unreadable one gets a line saying why, and the exit code is then 2.
    """
    from padim_edge.commands.scoring import exit_for, score_source
    from padim_edge.contract.files import check_output_folder
    from padim_edge.runtime.backends import open_backend
    from padim_edge.runtime.predictor import Predictor, check_threshold
    from padim_edge.runtime.sources import ImageFiles, image_inputs
    from padim_edge.runtime.status_line import StatusLine
    from padim_edge.sinks.png_files import OverlayFolder
    from padim_edge.sinks.text import JsonLines, Table

    check_threshold(threshold)
    files = image_inputs(inputs)
    if overlay_dir:
        check_output_folder(overlay_dir, "--overlay-dir")
    status = StatusLine()
    backend = open_backend(model, threads=threads, spinning=False)
    try:
        predictor = Predictor(backend, threshold)
        sinks = [JsonLines(Path("-")) if as_json else Table()]
        if overlay_dir:
            sinks.append(OverlayFolder(overlay_dir))
        source = ImageFiles(files, " ".join(map(str, inputs)))
        summary = score_source(source, predictor, sinks, status, batch=batch)
    finally:
        backend.close()
    exit_for(summary)
