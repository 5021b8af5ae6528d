"""`fit --update` on real ELPV cells: fit(A) + update(B) equals fit(A u B) (sums, covariances and exported
scores), the lineage and threshold it records, and its bad inputs (one line, exit 2, the run untouched)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from cli_runner import run_cli
from pairs import side_by_side, write_png
from tamper import link_or_copy

from padim_edge.contract.names import INPUT
from padim_edge.export.onnx_graph import export_run
from padim_edge.imaging.geometry import Geometry
from padim_edge.model.run_dir import load_sums, read_config

SIZE = 64  # the model's input side: a 16x16 feature grid keeps each fit and export to seconds


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """18 real good mono cells (300x300, gray), in one folder."""
    from padim_edge.data import load_dataset

    folder = tmp_path_factory.mktemp("cells")
    return [
        link_or_copy(s.path, folder / f"{i:03d}.png")
        for i, s in enumerate(load_dataset("elpv", None, "mono").train[:18])
    ]


@pytest.fixture(scope="module")
def test_cells() -> list[Path]:
    from padim_edge.data import load_dataset

    return [s.path for s in load_dataset("elpv", None, "mono").test[::40]]


def folder_of(images: list[Path], folder: Path) -> Path:
    for image in images:
        link_or_copy(image, folder / image.name)
    return folder


def fit_cli(capfd, images: list[Path], root: Path, *flags: object) -> Path:
    """`padim-edge fit` on a folder-layout dataset holding `images`; the run folder."""
    folder_of(images, root / "data" / "cells" / "good")
    out = root / "run"
    args = ["fit", "--dataset", "folder", "--data-root", root / "data", "--category", "cells", "--out", out]
    outcome = run_cli(capfd, *args, "--input-size", SIZE, "--quiet", *flags)
    assert outcome.code == 0, outcome.err
    return out


def scores(model: Path, images: list[Path]) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    geometry = Geometry.of(read_config(model.parent))
    batch = np.stack([geometry.prepare(cv2.imread(str(p)))[0] for p in images])
    return session.run(["score"], {INPUT: batch})[0]


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


SPLITS = {  # (images fitted first, update folders' sizes, covariance tile, compare exported scores too)
    "4+14": (4, (14,), 2, False),
    "9+5+4": (9, (5, 4), 2, True),
    "16+2-per-position": (16, (2,), 1, False),
}


@pytest.mark.parametrize("split", SPLITS, ids=list(SPLITS))
def test_update_equals_a_fit_on_every_image(split: str, cells: list[Path], test_cells, tmp_path: Path, capfd) -> None:
    first, parts, block, export = SPLITS[split]
    # Batch size 1 everywhere: a CNN's float32 features of an image vary with the batch it is computed in
    # (~1e-7 relative, oneDNN picks kernels by shape), which is not what this test is about.
    flags = ("--cov-block", block, "--batch-size", 1)
    whole = fit_cli(capfd, cells, tmp_path / "whole", *flags)
    run = fit_cli(capfd, cells[:first], tmp_path / "part", *flags)
    folders, start = [], first
    for i, size in enumerate(parts):
        folders += ["--images", folder_of(cells[start : start + size], tmp_path / f"new{i}")]
        start += size
    before = read_config(run)
    outcome = run_cli(capfd, "fit", "--update", run, *folders, "--batch-size", 1)
    assert outcome.code == 0, outcome.err
    assert f"+{len(cells) - first} images" in outcome.out

    a, b = read_config(run), read_config(whole)
    sa, sb = load_sums(run, a), load_sums(whole, b)
    assert sa.count == sb.count == a.n_train == len(cells)
    mean_err, cov_err = (
        relative(sa.mean.numpy(), sb.mean.numpy()),
        relative(sa.covariance(a.eps).numpy(), sb.covariance(b.eps).numpy()),
    )
    score_err = 0.0
    if export:  # seconds per export: on the splits that differ most
        score_err = relative(scores(export_run(run).path, test_cells), scores(export_run(whole).path, test_cells))
    print(f"\n{split}: relative error mean {mean_err:.2e}, covariance {cov_err:.2e}, exported scores {score_err:.2e}")
    assert mean_err < 1e-9 and cov_err < 1e-9 and score_err < 1e-5

    entry = a.updates[-1]
    assert (entry.images, len(entry.folders)) == (len(cells) - first, len(parts))
    assert entry.statistics_before == before.statistics_sha256 != entry.statistics_after == a.statistics_sha256
    assert len(a.holdout_scores) == a.n_holdout == len(before.holdout_scores) + entry.held_out
    assert a.threshold == pytest.approx(np.quantile(a.holdout_scores, 0.99))


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def small_run(cells: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from padim_edge.data import load_dataset
    from padim_edge.fit import FitOptions, fit

    root = tmp_path_factory.mktemp("small")
    folder_of(cells[:6], root / "cells" / "good")
    out = root / "run"
    fit(load_dataset("folder", root, "cells"), out, FitOptions(input_size=SIZE, show_progress=False), root)
    return out


def bad_folders(cells: list[Path], root: Path) -> dict[str, Path]:
    color = cv2.applyColorMap(cv2.imread(str(cells[0])), cv2.COLORMAP_JET)
    return {
        "empty": (root / "empty").mkdir() or root / "empty",
        "wide": write_png(root / "wide" / "pair.png", side_by_side(cells[0], cells[1])).parent,
        "color": write_png(root / "color" / "cell.png", color).parent,
        "good": folder_of(cells[6:8], root / "good"),
    }


def test_bad_updates_are_one_line_and_leave_the_run_untouched(
    small_run: Path, cells: list[Path], tmp_path: Path, capfd
) -> None:
    folders = bad_folders(cells, tmp_path)
    old = tmp_path / "old-run"  # as fitted before the sums were kept
    for name in ("config.json", "statistics.safetensors"):
        link_or_copy(small_run / name, old / name)
    document = json.loads((old / "config.json").read_text())
    for key in ("sums_sha256", "frame_sizes", "frame_layout", "threshold_quantile", "updates"):
        document.pop(key)
    (old / "config.json").unlink()
    (old / "config.json").write_text(json.dumps(document))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text('{"name": "not a padim-edge run"}')
    (foreign / "statistics.safetensors").write_bytes(b"\0" * 16)
    cases = {
        "missing run": ([tmp_path / "none", folders["good"]], "not a fitted run"),
        "foreign run": ([foreign, folders["good"]], "unknown padim-edge format version"),
        "empty folder": ([small_run, folders["empty"]], "no images in it"),
        "missing folder": ([small_run, tmp_path / "nowhere"], "no such folder"),
        "other size": ([small_run, folders["wide"]], "a 300x600 image;"),
        "other layout": ([small_run, folders["color"]], "fitted on gray images, these are color"),
        "old run": ([old, folders["good"]], "refit it once with padim-edge fit"),
    }
    runs = {small_run: tree_digest(small_run), old: tree_digest(old), foreign: tree_digest(foreign)}
    for name, ((run, images), says) in cases.items():
        outcome = run_cli(capfd, "fit", "--update", run, "--images", images)
        assert outcome.code == 2 and len(outcome.errors) == 1 and says in outcome.errors[0], (name, outcome.err)
        assert "Traceback" not in outcome.err
    fixed = run_cli(capfd, "fit", "--update", small_run, "--images", folders["good"], "--backbone", "resnet18")
    assert fixed.code == 2 and "--backbone cannot change in an update" in fixed.errors[0]
    assert {run: tree_digest(run) for run in runs} == runs
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_update_killed_while_saving_leaves_the_run_whole(small_run: Path, cells: list[Path], tmp_path: Path) -> None:
    from test_faults import kill_when_staged

    from padim_edge.model.run_dir import load_run

    runs = tmp_path / "runs"
    run = Path(shutil.copytree(small_run, runs / "cells"))
    before = tree_digest(run)
    new = folder_of(cells[6:10], tmp_path / "new")
    kill_when_staged(["fit", "--update", run, "--images", new, "--quiet"], runs, "cells")
    config, _, _ = load_run(run)  # config, statistics and sums still agree (checksums): nothing half-written
    load_sums(run, config)
    assert tree_digest(run) == before or config.n_train == 10  # the old run, or (killed after the swap) the new
