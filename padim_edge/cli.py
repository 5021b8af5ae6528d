"""The `padim-edge` command: thin typer commands; heavy modules (torch, onnx) are imported inside them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="PaDiM anomaly detection for edge devices.")

DATASETS = ("mvtec", "folder", "elpv")
DataRoot = Annotated[
    Optional[Path],
    typer.Option("--data-root", help="Dataset root (default: $PADIM_EDGE_DATA_ROOT, else ./data/mvtec)."),
]
Dataset = Annotated[str, typer.Option("--dataset", help="Layout: mvtec, folder or elpv.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _data_root(root: Path | None, dataset: str) -> Path | None:
    if dataset == "elpv":
        return None
    return root or Path(os.environ.get("PADIM_EDGE_DATA_ROOT", "data/mvtec"))


def _layers(text: str) -> tuple[int, ...]:
    from padim_edge.errors import UserError

    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--layers {text}: expected comma-separated stage numbers, e.g. 1,2,3") from None


@app.command()
def fit(
    category: Annotated[str, typer.Option(help="Category folder (MVTec), or mono/poly for ELPV.")],
    data_root: DataRoot = None,
    dataset: Dataset = "mvtec",
    backbone: Annotated[str, typer.Option(help="efficientnet_lite0, resnet18 or wide_resnet50_2.")] = (
        "efficientnet_lite0"
    ),
    weights: Annotated[
        str, typer.Option(help="'default' (packaged/official ImageNet), a torchvision .pth, or 'random'.")
    ] = "default",
    d: Annotated[Optional[int], typer.Option("-d", help="Channels kept (default per backbone).")] = None,
    layers: Annotated[str, typer.Option(help="Stages used, of 1,2,3 (strides 4/8/16).")] = "1,2,3",
    resize: Annotated[int, typer.Option(help="Shorter side before the centre crop (paper: 256).")] = 224,
    input_size: Annotated[int, typer.Option(help="Centre-crop size: the model's input (paper: 224).")] = 224,
    holdout: Annotated[float, typer.Option(help="Fraction of good images held out for the threshold.")] = 0.1,
    threshold_quantile: Annotated[float, typer.Option(help="Quantile of held-out scores = threshold.")] = 0.99,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    seed: int = 0,
    limit: Annotated[Optional[int], typer.Option(help="Use at most N train and N test images.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default runs/CATEGORY).")] = None,
    quiet: Quiet = False,
) -> None:
    """Fit the per-position Gaussians on good images and save a run directory."""
    from padim_edge.data import load_dataset
    from padim_edge.fit import FitOptions
    from padim_edge.fit import fit as run_fit

    root = _data_root(data_root, dataset)
    split = load_dataset(dataset, root, category, limit)
    options = FitOptions(
        backbone,
        weights,
        d,
        _layers(layers),
        resize,
        input_size,
        holdout,
        threshold_quantile,
        batch_size,
        seed,
        not quiet,
    )
    out_dir = out or Path("runs") / category
    config = run_fit(split, out_dir, options, root)
    typer.echo(
        f"fitted {config.backbone} d={config.d} on {config.n_train} images (threshold {config.threshold}) -> {out_dir}"
    )


@app.command("eval")
def eval_(
    run_dir: Annotated[Path, typer.Argument(help="A fitted run directory.")],
    data_root: DataRoot = None,
    dataset: Annotated[Optional[str], typer.Option(help="Default: the run's dataset.")] = None,
    category: Annotated[Optional[str], typer.Option(help="Default: the run's category.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Use at most N test images.")] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the metrics JSON here.")] = None,
    report_dir: Annotated[Optional[Path], typer.Option(help="Default: RUN_DIR/eval.")] = None,
    quiet: Quiet = False,
) -> None:
    """Image AUROC, pixel AUROC and PRO on the test split, with plots and heatmap overlays."""
    from padim_edge.config import atomic_write
    from padim_edge.data import load_dataset
    from padim_edge.evaluate import evaluate
    from padim_edge.model.run_dir import load_run

    config, _, _ = load_run(run_dir)
    dataset = dataset or config.dataset
    root = data_root or (Path(config.data_root) if config.data_root else None)
    split = load_dataset(dataset, _data_root(root, dataset), category or config.category, limit)
    metrics = evaluate(run_dir, split, report_dir or run_dir / "eval", show=not quiet)
    text = json.dumps(metrics, indent=2)
    if json_path:
        atomic_write(json_path, text)
    typer.echo(text)


@app.command()
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
    calib_images: Annotated[int, typer.Option(min=1, help="--int8: good training images to calibrate on.")] = 64,
    triton: Annotated[
        Optional[Path], typer.Option(help="Also write a Triton model repository entry here (see triton-repo).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Export one ONNX graph (pre-processing, backbone, Mahalanobis head, blur, score); fits first if needed."""
    from padim_edge.errors import UserError
    from padim_edge.model.run_dir import is_fitted

    if run_dir is None and category is None:
        raise UserError("give a RUN_DIR or --category")
    run_dir = run_dir or Path("runs") / str(category)
    if not is_fitted(run_dir):
        if category is None:
            raise UserError(f"{run_dir}: not a fitted run (pass --category to fit it first)")
        fit(category, data_root, dataset, backbone, out=run_dir, quiet=quiet)
    from padim_edge.export.onnx_graph import export_run

    result = export_run(run_dir, out, fp16_statistics, weights)
    extra = f" + external data {result.external_data.name}" if result.external_data else ""
    typer.echo(
        f"exported {result.path}{extra} ({result.bytes_on_disk / 2**20:.1f} MiB, {result.statistics_dtype} statistics)"
    )
    if int8:
        from padim_edge.export.quantize import good_training_frames, quantize_backbone
        from padim_edge.model.run_dir import load_run

        frames = good_training_frames(load_run(run_dir)[0], calib_images, data_root)
        quantized = quantize_backbone(result.path, run_dir / "model.int8.onnx", frames)
        typer.echo(
            f"quantized the backbone to int8 ({quantized.quantised_nodes} QuantizeLinear nodes, calibrated on "
            f"{quantized.calibration_images} good images) -> {quantized.path}"
        )
    if triton:
        from padim_edge.serving.triton_repository import write_repository

        for entry in write_repository(result.path, triton):
            typer.echo(f"wrote Triton repository entry {entry}")


@app.command()
def info(model: Annotated[Path, typer.Argument(help="An exported .onnx (or a built .engine).")]) -> None:
    """Print the metadata carried by a model: config, threshold, checksums, versions."""
    from dataclasses import asdict

    from padim_edge.runtime.backends import open_backend

    backend = open_backend(model)
    typer.echo(json.dumps({**asdict(backend.info.config), "export": backend.info.export}, indent=2))


@app.command()
def verify(
    run_dir: Annotated[Path, typer.Argument(help="A fitted and exported run.")],
    model: Annotated[Optional[Path], typer.Option(help="ONNX to check (default RUN_DIR/model.onnx).")] = None,
    data_root: DataRoot = None,
    images: Annotated[int, typer.Option(min=2, help="How many of the run's images to compare on.")] = 32,
    tolerance: Annotated[float, typer.Option(help="Largest map difference, relative to the map range.")] = 1e-4,
) -> None:
    """Compare the exported graph (onnxruntime) with the PyTorch reference; exit 1 past the tolerance."""
    from padim_edge.data import load_dataset
    from padim_edge.model.run_dir import load_run
    from padim_edge.verify import check_parity

    config, _, _ = load_run(run_dir)
    root = data_root or (Path(config.data_root) if config.data_root else None)
    split = load_dataset(config.dataset, _data_root(root, config.dataset), config.category)
    pool = split.test or split.train
    samples = [pool[i] for i in sorted({round(i * (len(pool) - 1) / (images - 1)) for i in range(images)})]
    parity = check_parity(run_dir, model or run_dir / "model.onnx", samples, tolerance)
    typer.echo(json.dumps(parity.as_dict(), indent=2))
    if not parity.ok:
        raise typer.Exit(1)


@app.command()
def predict(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    model: Annotated[Path, typer.Option(help="An exported .onnx or a built .engine.")],
    threshold: Annotated[Optional[float], typer.Option(help="Override the model's threshold.")] = None,
    overlay_dir: Annotated[Optional[Path], typer.Option(help="Write heatmap overlays here.")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Images per inference call.")] = 8,
    threads: Annotated[Optional[int], typer.Option(help="onnxruntime intra-op threads.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line instead of a table.")] = False,
) -> None:
    """Score images: path, score, normalised score (score / threshold) and verdict (OK, NG; ? without threshold)."""
    from padim_edge.runtime.predict_files import predict_files

    for line in predict_files(model, inputs, threshold, overlay_dir, batch, threads):
        if as_json:
            typer.echo(json.dumps(line))
        else:
            norm = "-" if line["normalized_score"] is None else f"{line['normalized_score']:.3f}"
            typer.echo(f"{line['verdict']:2}  {line['score']:10.4f}  {norm:>7}  {line['path']}")


from padim_edge.commands.run import run as _run_command  # noqa: E402

app.command("run")(_run_command)

from padim_edge.commands.build import build as _build_command  # noqa: E402

app.command("build")(_build_command)

from padim_edge.commands.serve import serve as _serve_command  # noqa: E402

app.command("serve")(_serve_command)

from padim_edge.commands.triton_repo import triton_repo as _triton_repo_command  # noqa: E402

app.command("triton-repo")(_triton_repo_command)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    from padim_edge.errors import UserError

    command = typer.main.get_command(app)
    try:
        code = command.main(standalone_mode=False, prog_name="padim-edge")
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.TyperException as exc:  # bad flag, missing option, bad value
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
