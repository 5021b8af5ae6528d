"""`padim-edge fit`: per-position Gaussians on good images, saved as a run directory."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from padim_edge.commands.options import MAX_BATCH, DataRoot, Dataset, Quiet
from padim_edge.contract.schema import RESIZE_MODES
from padim_edge.errors import UserError

if TYPE_CHECKING:
    from padim_edge.fit import FitOptions


def prepare_run_folder(out: Path) -> None:
    """Before any image is read: `out` must be a folder (or not exist) in a folder we can write, where what
    a killed fit or export left behind is removed."""
    from padim_edge.storage.atomic import clean_stale
    from padim_edge.storage.output_checks import check_output_folder

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    check_output_folder(out.absolute().parent, "--out", shown=out)
    clean_stale(out.absolute().parent)


def fit_category(
    category: str,
    dataset: str,
    data_root: Path | None,
    out: Path,
    options: FitOptions,
    limit: int | None = None,
    select: bool = False,
) -> None:
    """Load `dataset`/`category`, fit it into `out` (prepared first; `select`: with the settings `fit --select`
    chooses), and say what was written."""
    from padim_edge.data import data_root as resolve_root
    from padim_edge.data import load_dataset
    from padim_edge.fit import fit

    prepare_run_folder(out)
    options.check()
    root = resolve_root(data_root, dataset)
    split = load_dataset(dataset, root, category, limit)
    if select:
        from padim_edge.select import select_and_fit, selection_table

        config = select_and_fit(split, out, options, root, typer.echo)
        typer.echo("\n".join(selection_table(config)))
    else:
        config = fit(split, out, options, root)
    h, w = config.input_hw
    typer.echo(
        f"fitted {config.backbone} d={config.d} at {h}x{w} ({config.resize_mode}) on {config.n_train} images "
        f"(threshold {config.threshold}) -> {out}"
    )


def update_category(
    run: Path,
    images: list[Path],
    out: Path,
    weights: str,
    holdout: float,
    quantile: float | None,
    batch_size: int,
    quiet: bool,
) -> None:
    """`fit --update`: merge the new images into `run`, save to `out` (replaced whole), say what changed."""
    prepare_run_folder(out)
    from padim_edge.update import UpdateOptions, update_run

    options = UpdateOptions(
        holdout=holdout,
        threshold_quantile=quantile,
        batch_size=batch_size,
        weights=None if weights == "default" else weights,
        show_progress=not quiet,
    )
    config = update_run(run, images, out, options)
    entry = config.updates[-1]
    typer.echo(
        f"updated {run}: +{entry.images} images ({entry.held_out} held out), {config.n_train} in the statistics; "
        f"threshold {entry.threshold_before} -> {entry.threshold_after}; statistics "
        f"{entry.statistics_before[:12]} -> {entry.statistics_after[:12]} -> {out}"
    )


#: The FitOptions fields each model flag sets, or depends on (a preset's taps are the default backbone's).
PRESET_FIELDS = {
    "--backbone": {"layers"},
    "-d": {"d"},
    "--layers": {"layers"},
    "--pooling": {"pooling"},
    "--eps": {"eps"},
    "--cov-block": {"cov_block"},
    "--input-size": {"input_size"},
}


def parse_layers(text: str | None) -> tuple[str, ...] | None:
    """`--layers blocks.2,blocks.4,blocks.10` (checked against the backbone later)."""
    if text is None:
        return None
    layers = tuple(part.strip() for part in text.split(",") if part.strip())
    if not layers:
        raise UserError(f"--layers {text!r}: expected comma-separated tap names, e.g. layer1,layer2,layer3")
    return layers


def parse_pooling(text: str | None) -> tuple[int, ...] | None:
    """`--pooling 3,1,1`: one kernel size per layer, or one for all; odd, 1 to 9."""
    if text is None:
        return None
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or not all(1 <= k <= 9 and k % 2 for k in sizes):
        raise UserError(f"--pooling {text}: expected odd kernel sizes from 1 to 9, e.g. 3,1,1")
    return sizes


def fit(
    category: Annotated[
        Optional[str], typer.Option(help="Category folder (MVTec, folder), or mono/poly for ELPV.")
    ] = None,
    data_root: DataRoot = None,
    dataset: Dataset = "mvtec",
    backbone: Annotated[str, typer.Option(help="efficientnet_lite0, resnet18 or wide_resnet50_2.")] = (
        "efficientnet_lite0"
    ),
    weights: Annotated[
        str, typer.Option(help="'default' (packaged/official ImageNet), a torchvision .pth, or 'random'.")
    ] = "default",
    d: Annotated[Optional[int], typer.Option("-d", min=1, help="Channels kept (default per backbone).")] = None,
    channels: Annotated[
        str,
        typer.Option(
            help="random (seeded draw), or least-redundant (chosen on the training images, no seed; "
            "one more pass over them). See docs/choices.md."
        ),
    ] = "random",
    layers: Annotated[Optional[str], typer.Option(help="Feature taps, comma-separated (default per backbone).")] = None,
    pooling: Annotated[
        Optional[str],
        typer.Option(
            help="Local average per layer, e.g. 3,1,1 (1: none; one number: every layer; default per backbone)."
        ),
    ] = None,
    eps: Annotated[
        Optional[float], typer.Option(min=0.0, help="Covariance regularisation eps * I (default per backbone).")
    ] = None,
    prior_weight: Annotated[
        Optional[float],
        typer.Option(
            min=0.0,
            help="Samples' worth of the pull of each covariance toward the one pooled over the grid "
            "(0: none; default: d). See docs/choices.md.",
        ),
    ] = None,
    cov_block: Annotated[
        Optional[int],
        typer.Option(
            min=1, max=8, help="One covariance per k x k tile of the grid (1: per position; default per backbone)."
        ),
    ] = None,
    input_size: Annotated[
        str, typer.Option(help="Shorter side S (the other follows the images' aspect ratio), or HxW.")
    ] = "224",
    resize_mode: Annotated[str, typer.Option(help=f"{', '.join(RESIZE_MODES)} (see docs/choices.md).")] = "stretch",
    align: Annotated[
        str, typer.Option(help="Pose normalisation: none, or principal_axis for parts lying at any angle.")
    ] = "none",
    holdout: Annotated[
        float, typer.Option(help="Fraction of good images scored before they join the fit, for the threshold.")
    ] = 0.1,
    threshold_quantile: Annotated[
        Optional[float],
        typer.Option(help="Quantile of held-out scores = threshold (default 0.99; --update: the run's)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=MAX_BATCH)] = 16,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the channel selection and hold-out split.")] = 0,
    limit: Annotated[Optional[int], typer.Option(min=2, help="Use at most N train and N test images.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default runs/CATEGORY; --update: RUN).")] = None,
    update: Annotated[
        Optional[Path], typer.Option(help="Add the --images to this fitted run exactly instead of fitting anew.")
    ] = None,
    images: Annotated[
        Optional[list[Path]], typer.Option(help="--update: a folder of new good images; repeat for more.")
    ] = None,
    select: Annotated[
        bool,
        typer.Option(
            "--select",
            help="Choose the settings among a few candidates by how well each finds synthetic defects on "
            "held-out good images (several plain fits' time; docs/choices.md).",
        ),
    ] = False,
    preset: Annotated[
        Optional[str],
        typer.Option(
            help="Named settings instead of the model flags: texture (stationary textures: tyres, fabric), "
            "size-288, tiles-4 (docs/choices.md; --select tries them all)."
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Fit the per-position Gaussians on good images and save a run directory (replaced whole, atomically).

    With --update RUN --images DIR, the new good images are merged into RUN's statistics exactly (as if it
    had been fitted on the old and new images together) and the threshold is set again (docs/model-format.md).
    """
    from padim_edge.imaging.geometry import Geometry, parse_input_size

    settings = {  # what a fit's model is made of: an update keeps them, --select chooses them
        "--backbone": backbone != "efficientnet_lite0",
        "-d": d is not None,
        "--layers": layers is not None,
        "--pooling": pooling is not None,
        "--eps": eps is not None,
        "--cov-block": cov_block is not None,
        "--input-size": input_size != "224",
    }
    if update is not None:
        fixed = {
            "--category": category is not None,
            "--data-root": data_root is not None,
            "--dataset": dataset != "mvtec",
            **settings,
            "--prior-weight": prior_weight is not None,
            "--resize-mode": resize_mode != "stretch",
            "--align": align != "none",
            "--seed": seed != 0,
            "--limit": limit is not None,
            "--select": select,
            "--preset": preset is not None,
        }
        given = [flag for flag, changed in fixed.items() if changed]
        if given:
            raise UserError(f"--update {update}: {', '.join(given)} cannot change in an update (refit to change them)")
        update_category(update, images or [], out or update, weights, holdout, threshold_quantile, batch_size, quiet)
        return
    if category is None:
        raise UserError("give --category (or --update RUN --images DIR to add images to a fitted run)")
    given = [flag for flag, changed in settings.items() if changed]
    if select and given:
        raise UserError(f"--select chooses {', '.join(given)} itself: drop them, or drop --select")
    if preset is not None:
        from padim_edge.presets import preset as named

        chosen = named(preset)
        if select:
            raise UserError(f"--preset {preset} and --select: --select chooses among the presets itself; give one")
        clash = [flag for flag in given if PRESET_FIELDS[flag] & set(chosen.options)]
        if clash:
            raise UserError(f"--preset {preset} sets {', '.join(clash)} itself ({chosen.flags}): drop them")
    if images:
        raise UserError("--images applies to --update RUN only")
    Geometry(32, 32, resize_mode, align)  # flags first, then the output, all before PyTorch is even imported
    size, taps = parse_input_size(input_size), parse_layers(layers)
    out = out or Path("runs") / category
    prepare_run_folder(out)
    from padim_edge.fit import FitOptions

    options = FitOptions(
        backbone=backbone,
        weights=weights,
        d=d,
        channels=channels,
        layers=taps,
        pooling=parse_pooling(pooling),
        eps=eps,
        cov_block=cov_block,
        prior_weight=prior_weight,
        input_size=size,
        resize_mode=resize_mode,
        align=align,
        holdout=holdout,
        threshold_quantile=0.99 if threshold_quantile is None else threshold_quantile,
        batch_size=batch_size,
        seed=seed,
        show_progress=not quiet,
    )
    if preset is not None:
        options = replace(options, **chosen.options)
    fit_category(category, dataset, data_root, out, options, limit, select)
