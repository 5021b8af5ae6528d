"""Faults, for real: a fit and an export killed with SIGKILL, folders the user may not write, unreadable and
hostile images among good ones, broken statistics. Nothing already written is lost or left half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from bad_files import bad_crc, header_bomb, reencoded, truncated
from cli_runner import cli_command, cli_env, nobody_python, public_folder, read_only_folder, run_as_nobody, run_cli
from tamper import link_or_copy, run_copy

from padim_edge.errors import UserError
from padim_edge.storage.atomic import STAGING, sha256_file


def kill_when_staged(args: list[object], folder: Path, target: str, timeout: float = 240) -> str:
    """Start `padim-edge ARGS`, SIGKILL it while it writes into its staging folder for `target` in `folder`
    (the folder exists and holds a file being written); returns the staging folder's name (a failed test if
    the command ended first)."""
    prefix = f".{target}.{STAGING}-"
    process = subprocess.Popen(cli_command(*args), env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            staged = [name for name in os.listdir(folder) if name.startswith(prefix)]
            if staged and _entries(folder / staged[0]):
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
                return staged[0]
            if process.poll() is not None:
                pytest.fail(f"ended before staging anything: {process.communicate()[1].decode()[-2000:]}")
            time.sleep(0.002)
        pytest.fail(f"no staging folder for {target} within {timeout} s")
    finally:
        process.kill()
        process.communicate(timeout=30)
    raise AssertionError("unreachable")


def _entries(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:  # swapped in and removed since it was listed
        return []


def test_fit_killed_while_saving_leaves_the_previous_run_whole(
    cells_run: Path, cells_root: Path, tmp_path: Path, capfd
) -> None:
    from padim_edge.model.run_dir import load_run

    runs = tmp_path / "runs"
    run = run_copy(cells_run, runs / "cells")
    before = (run / "config.json").read_bytes(), sha256_file(run / "statistics.safetensors")
    args = ["fit", "--dataset", "folder", "--data-root", cells_root, "--category", "cells"]
    staged = kill_when_staged([*args, "--limit", "3", "--input-size", "128", "--out", run, "-q"], runs, "cells")

    config, mean, factor = load_run(run)  # config and statistics still agree (checksums), nothing half-written
    after = (run / "config.json").read_bytes(), sha256_file(run / "statistics.safetensors")
    assert after == before or config.n_train == 2  # the old run, or (killed after the swap) the whole new one
    assert (runs / staged).exists()

    # The next fit into the same folder removes the dead fit's staging before it reads a single image.
    nowhere = tmp_path / "nowhere"
    outcome = run_cli(capfd, "fit", "--dataset", "folder", "--data-root", nowhere, "--category", "c", "--out", run)
    assert outcome.code == 2 and str(nowhere) in outcome.errors[0]
    assert os.listdir(runs) == ["cells"]


def test_export_killed_midway_leaves_the_previous_model_whole(
    cells_run: Path, cells_model: Path, tmp_path: Path, capfd
) -> None:
    models = tmp_path / "models"
    model = link_or_copy(cells_model, models / "model.onnx")
    digest = sha256_file(model)
    staged = kill_when_staged(["export", cells_run, "--out", model, "-q"], models, "model.onnx")

    assert sha256_file(model) == digest and (models / staged).is_dir()
    assert run_cli(capfd, "info", model).code == 0  # still loads, digest and all
    # The next export to the same place removes it first (this one then stops at its broken run).
    broken = run_copy(cells_run, tmp_path / "broken", config=[])
    outcome = run_cli(capfd, "export", broken, "--out", model)
    assert outcome.code == 2 and "config.json" in outcome.errors[0]
    assert os.listdir(models) == ["model.onnx"]


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    with read_only_folder(tmp_path) as folder:
        yield folder


OUTPUTS = {
    "fit --out": lambda d, w: [
        "fit",
        "--dataset",
        "folder",
        "--data-root",
        w / "none",
        "--category",
        "c",
        "--out",
        d / "r",
    ],
    "predict --overlay-dir": lambda d, w: [
        "predict",
        "--model",
        w / "none.onnx",
        "--overlay-dir",
        d / "ov",
        w / "a.png",
    ],
    "run --results": lambda d, w: [
        "run",
        "--model",
        w / "none.onnx",
        "--source",
        w / "a.png",
        "--results",
        d / "r.jsonl",
    ],
    "run --save-ng": lambda d, w: ["run", "--model", w / "none.onnx", "--source", w / "a.png", "--save-ng", d / "ng"],
    "run --overlay-video": lambda d, w: [
        "run",
        "--model",
        w / "none.onnx",
        "--source",
        w / "a.png",
        "--overlay-video",
        d / "o.mp4",
    ],
    "run --summary-json": lambda d, w: [
        "run",
        "--model",
        w / "none.onnx",
        "--source",
        w / "a.png",
        "--summary-json",
        d / "s.json",
    ],
    "export --out": lambda d, w: ["export", w / "run", "--out", d / "model.onnx"],
    "eval --json": lambda d, w: ["eval", w / "run", "--report-dir", w / "report", "--json", d / "m.json"],
    "eval --report-dir": lambda d, w: ["eval", w / "run", "--report-dir", d / "report"],
}


@pytest.mark.parametrize("flag", OUTPUTS)
def test_outputs_are_checked_before_the_work(
    flag: str, locked: Path, cells_run: Path, cell_frames: list[Path], tmp_path: Path, capfd
) -> None:
    """An output in a read-only folder is one error line before any image is read or any model loaded (the
    model here does not even exist; fit names its --out, not its missing data root)."""
    link_or_copy(cell_frames[0], tmp_path / "a.png")
    run_copy(cells_run, tmp_path / "run")
    outcome = run_cli(capfd, *OUTPUTS[flag](locked, tmp_path))
    option = flag.split()[1]
    assert outcome.code == 2 and outcome.err.splitlines() == outcome.errors, outcome.err
    assert outcome.errors[0].startswith(f"error: {option} ") and "cannot write there" in outcome.errors[0]
    assert not any(locked.iterdir()) and not (tmp_path / "report").exists()


def test_unreadable_file_among_good_ones(cells_model: Path, cell_frames: list[Path]) -> None:
    """As user nobody, over a folder holding a file nobody may read: the others are scored, it is reported."""
    python = nobody_python()
    with public_folder() as public:
        model = link_or_copy(cells_model, public / "model.onnx")
        folder = public / "images"
        for frame in cell_frames[:2]:
            link_or_copy(frame, folder / f"{frame.parent.name}-{frame.name}")
        secret = folder / "secret.png"
        secret.write_bytes(cell_frames[2].read_bytes())
        secret.chmod(0)
        outcome = run_as_nobody(python, "predict", "--model", model, "--json", folder)
    lines = [json.loads(line) for line in outcome.out.splitlines()]
    assert outcome.code == 2 and [line.get("error") is None for line in lines] == [True, True, False], outcome.err
    assert outcome.errors == [f"error: {secret}: cannot read it (Permission denied)"]


@pytest.mark.parametrize("batch", [1, 8])
def test_one_bad_image_never_loses_the_good_ones(
    batch: int, cells_model: Path, cell_frames: list[Path], tmp_path: Path, capfd
) -> None:
    folder = tmp_path / "mixed"
    goods = [link_or_copy(p, folder / f"{i}.png") for i, p in enumerate(cell_frames[8:14])]
    bad = [
        truncated(cell_frames[0], folder / "3-truncated.png"),
        header_bomb(folder / "4-bomb.png"),
        bad_crc(cell_frames[1], folder / "5-crc.png"),
    ]
    outcome = run_cli(capfd, "predict", "--model", cells_model, "--json", "--batch", batch, folder)
    lines = {line["name"]: line for line in map(json.loads, outcome.out.splitlines())}
    assert outcome.code == 2 and len(lines) == 9
    assert all(isinstance(lines[p.name]["score"], float) and "error" not in lines[p.name] for p in goods)
    assert all(lines[p.name]["score"] is None and p.name in lines[p.name]["error"] for p in bad)
    assert [line.split(":")[1].strip() for line in outcome.errors] == [str(p) for p in sorted(bad)]

    outcome = run_cli(capfd, "run", "--model", cells_model, "--source", folder, "--results", "-", "--batch", batch)
    assert outcome.code == 2 and len(outcome.out.splitlines()) == 9 and len(outcome.errors) == 3


def test_odd_but_valid_images_are_scored(cells_model: Path, cell_frames: list[Path], tmp_path: Path, capfd) -> None:
    odd = [
        reencoded(cell_frames[0], tmp_path / f"{kind}.png", kind) for kind in ("thin", "tall", "dot", "gray16", "rgba")
    ]
    outcome = run_cli(capfd, "predict", "--model", cells_model, "--json", *odd)
    lines = [json.loads(line) for line in outcome.out.splitlines()]
    assert outcome.code == 0, outcome.err
    assert [line["name"] for line in lines] == [p.name for p in odd]
    assert all(np.isfinite(line["score"]) and line["verdict"] in ("OK", "NG") for line in lines)


def test_overlays_never_overwrite_each_other(cells_model: Path, cells_root: Path, tmp_path: Path, capfd) -> None:
    test = cells_root / "cells" / "test"  # good/000.png .. and defect/000.png ..: the same file names
    twin = tmp_path / "twin"
    twin.mkdir()
    image = cv2.imread(str(test / "good" / "000.png"))
    assert cv2.imwrite(str(twin / "x.png"), image) and cv2.imwrite(str(twin / "x.jpg"), image)
    overlays = tmp_path / "ov"
    outcome = run_cli(
        capfd, "predict", "--model", cells_model, "--overlay-dir", overlays, test / "good", test / "defect"
    )
    assert outcome.code == 0, outcome.err
    written = sorted(p.relative_to(overlays).as_posix() for p in overlays.rglob("*.png"))
    expected = sorted(f"{kind}/{p.stem}_overlay.png" for kind in ("good", "defect") for p in (test / kind).iterdir())
    assert written == expected and len(written) == 20
    outcome = run_cli(capfd, "predict", "--model", cells_model, "--overlay-dir", tmp_path / "ov2", twin)
    assert outcome.code == 0 and sorted(p.name for p in (tmp_path / "ov2").iterdir()) == [
        "x.png_overlay.png",
        "x_overlay.png",
    ]


def test_non_finite_statistics_are_never_saved(cells_run: Path, tmp_path: Path) -> None:
    """Refused at fit (save_run) leaving the previous run as it was; at export and load: the corpus."""
    from padim_edge.model.run_dir import load_run, save_run

    run = run_copy(cells_run, tmp_path / "run")
    config, mean, factor = load_run(run)
    before = sha256_file(run / "statistics.safetensors")
    for bad in (float("nan"), float("inf")):
        broken = factor.clone()
        broken[3, 1, 1] = bad
        with pytest.raises(UserError, match="NaN or infinite"):
            save_run(run, config, mean, broken)
    assert sha256_file(run / "statistics.safetensors") == before and sorted(os.listdir(tmp_path)) == ["run"]
