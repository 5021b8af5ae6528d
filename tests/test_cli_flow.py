"""The CLI end to end on a small MVTec-layout folder: export fits first, then predict reads the model."""

import json
from pathlib import Path

import cv2
import numpy as np
from helpers import run_cli


def make_dataset(root: Path) -> None:
    rng = np.random.default_rng(0)
    good = root / "tiles" / "train" / "good"
    good.mkdir(parents=True)
    for i in range(8):
        cv2.imwrite(str(good / f"{i}.png"), rng.integers(90, 110, (96, 96, 3), dtype=np.uint8))
    bad = root / "tiles" / "test" / "spot"
    bad.mkdir(parents=True)
    image = rng.integers(90, 110, (96, 96, 3), dtype=np.uint8)
    image[30:50, 30:50] = 255
    cv2.imwrite(str(bad / "0.png"), image)


def test_export_fits_first_then_reuses_the_run(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    run_dir = tmp_path / "run"
    args = ["export", str(run_dir), "--category", "tiles", "--data-root", str(tmp_path / "data"), "-q"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "fitted efficientnet_lite0" in first.stdout and (run_dir / "model.onnx").is_file()
    fitted_at = (run_dir / "config.json").stat().st_mtime_ns
    second = run_cli(*args)
    assert second.returncode == 0 and "fitted" not in second.stdout
    assert (run_dir / "config.json").stat().st_mtime_ns == fitted_at

    image = tmp_path / "data" / "tiles" / "test" / "spot" / "0.png"
    out = run_cli(
        "predict",
        "--json",
        "--model",
        str(run_dir / "model.onnx"),
        str(image),
        "--overlay-dir",
        str(tmp_path / "overlays"),
    )
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout)
    assert line["verdict"] == "NG" and line["normalized_score"] > 1  # the bright square is far from the tiles
    overlay = cv2.imread(str(tmp_path / "overlays" / "0_overlay.png"))
    assert overlay.shape == (96, 96, 3)
