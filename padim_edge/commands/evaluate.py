"""`padim-edge eval`: image AUROC, pixel AUROC and PRO of a fitted run on its test split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from padim_edge.commands.options import DataRoot, Quiet


def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A fitted run directory.")],
    data_root: DataRoot = None,
    dataset: Annotated[Optional[str], typer.Option(help="Default: the run's dataset.")] = None,
    category: Annotated[Optional[str], typer.Option(help="Default: the run's category.")] = None,
    limit: Annotated[Optional[int], typer.Option(min=2, help="Use at most N test images.")] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the metrics JSON here.")] = None,
    report_dir: Annotated[Optional[Path], typer.Option(help="Default: RUN_DIR/eval.")] = None,
    quiet: Quiet = False,
) -> None:
    """Image AUROC, pixel AUROC and PRO on the whole original test frames, with plots and heatmap overlays."""
    from padim_edge.data import data_root as resolve_root
    from padim_edge.data import load_dataset
    from padim_edge.evaluate import evaluate as run_evaluation
    from padim_edge.model.run_dir import read_config
    from padim_edge.storage.atomic import atomic_write
    from padim_edge.storage.output_checks import check_output_file, check_output_folder

    config = read_config(run_dir)
    if json_path:
        check_output_file(json_path, "--json")
    report_dir = check_output_folder(report_dir or run_dir / "eval", "--report-dir")
    dataset = dataset or config.dataset
    root = resolve_root(data_root, dataset, config)
    split = load_dataset(dataset, root, category or config.category, limit)
    metrics = run_evaluation(run_dir, split, report_dir, show=not quiet)
    text = json.dumps(metrics, indent=2)
    if json_path:
        atomic_write(json_path, text + "\n")
    typer.echo(text)
