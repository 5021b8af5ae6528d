"""`padim-edge export`: one ONNX graph from a fitted run (fitting it first when asked)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from padim_edge.commands.options import DataRoot, Dataset, Quiet
from padim_edge.errors import UserError


def export(
    run_dir: Annotated[Optional[Path], typer.Argument(help="A fitted run (default runs/CATEGORY).")] = None,
    category: Annotated[Optional[str], typer.Option(help="Fit this category first if the run is not fitted.")] = None,
    data_root: DataRoot = None,
    dataset: Dataset = "mvtec",
    backbone: Annotated[str, typer.Option(help="Backbone when a fit is needed.")] = "efficientnet_lite0",
    out: Annotated[Optional[Path], typer.Option(help="ONNX path (default RUN_DIR/model.onnx).")] = None,
    fp16_statistics: Annotated[
        bool, typer.Option("--fp16-statistics", help="Store mean/factor as float16 (half size; head computes fp32).")
    ] = False,
    weights: Annotated[Optional[str], typer.Option(help="Backbone checkpoint, if it moved since the fit.")] = None,
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write RUN_DIR/model.int8.onnx: int8 backbone for onnxruntime CPU.")
    ] = False,
    calib_images: Annotated[
        int, typer.Option(min=1, max=4096, help="--int8: good training images to calibrate on.")
    ] = 64,
    triton: Annotated[
        Optional[Path], typer.Option(help="Also write a Triton model repository entry here (see triton-repo).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Export one ONNX graph (pre-processing, backbone, Mahalanobis head, blur, score); fits first if needed."""
    from padim_edge.model.run_dir import is_fitted
    from padim_edge.storage.atomic import clean_stale
    from padim_edge.storage.output_checks import check_output_file, check_output_folder

    if run_dir is None and category is None:
        raise UserError("give a RUN_DIR or --category")
    run_dir = run_dir or Path("runs") / str(category)
    fitted = is_fitted(run_dir)
    if not fitted and category is None:
        raise UserError(f"{run_dir}: not a fitted run (pass --category to fit it first)")
    out = check_output_file(out or run_dir / "model.onnx", "--out")
    if int8:
        check_output_file(out.with_name(out.stem + ".int8.onnx"), "--int8")
    if triton:
        check_output_folder(triton, "--triton")
    clean_stale(out.parent)  # what a killed export left there
    if not fitted:
        from padim_edge.commands.fit import fit_category
        from padim_edge.fit import FitOptions

        fit_category(category, dataset, data_root, run_dir, FitOptions(backbone=backbone, show_progress=not quiet))
    from padim_edge.export.onnx_graph import export_run

    result = export_run(run_dir, out, fp16_statistics, weights)
    extra = f" + external data {result.external_data.name}" if result.external_data else ""
    typer.echo(
        f"exported {result.path}{extra} ({result.bytes_on_disk / 2**20:.1f} MiB, {result.statistics_dtype} statistics)"
    )
    if int8:
        from padim_edge.export.quantize import good_training_frames, quantize_backbone
        from padim_edge.model.run_dir import read_config

        frames = good_training_frames(read_config(run_dir), calib_images, data_root)
        quantized = quantize_backbone(result.path, out.with_name(out.stem + ".int8.onnx"), frames)
        typer.echo(
            f"quantized the backbone to int8 ({quantized.quantised_nodes} QuantizeLinear nodes, calibrated on "
            f"{quantized.calibration_images} good images) -> {quantized.path}"
        )
    if triton:
        from padim_edge.serving.triton_repository import write_repository

        for entry in write_repository(result.path, triton):
            typer.echo(f"wrote Triton repository entry {entry}")
