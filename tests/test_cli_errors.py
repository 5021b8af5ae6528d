"""User errors: one line on stderr, exit code 2, no traceback."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import run_cli


def assert_one_line_error(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in result.stderr


def make_category(root: Path, goods: int) -> Path:
    good = root / "cat" / "train" / "good"
    good.mkdir(parents=True)
    for i in range(goods):
        cv2.imwrite(str(good / f"{i:03d}.png"), np.full((40, 40), 100 + i, np.uint8))
    return root


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fit", "--category", "cat", "--data-root", "/no/such/root"], "/no/such/root"),
        (["fit", "--category", "cat", "--bogus-flag"], "--bogus-flag"),
        (["fit", "--category", "cat", "--batch-size", "zero"], "--batch-size"),
        (["fit", "--dataset", "elpv", "--category", "amorphous"], "amorphous"),
        (["eval", "/no/such/run"], "/no/such/run"),
        (["export"], "--category"),
        (["predict", "--model", "/no/model.onnx", "x.png"], "/no/model.onnx"),
    ],
)
def test_bad_input_is_one_line(args: list[str], needle: str) -> None:
    assert_one_line_error(run_cli(*args), needle)


def test_missing_category_folder(tmp_path: Path) -> None:
    make_category(tmp_path, 3)
    assert_one_line_error(run_cli("fit", "--category", "other", "--data-root", str(tmp_path)), "other")


def test_empty_good_folder(tmp_path: Path) -> None:
    make_category(tmp_path, 0)
    assert_one_line_error(run_cli("fit", "--category", "cat", "--data-root", str(tmp_path)), "good")


def test_fewer_than_two_good_images(tmp_path: Path) -> None:
    make_category(tmp_path, 1)
    assert_one_line_error(run_cli("fit", "--category", "cat", "--data-root", str(tmp_path)), "2")


def test_unknown_backbone(tmp_path: Path) -> None:
    make_category(tmp_path, 3)
    result = run_cli("fit", "--category", "cat", "--data-root", str(tmp_path), "--backbone", "vgg16")
    assert_one_line_error(result, "vgg16")


def test_bad_layers_and_d(tmp_path: Path) -> None:
    make_category(tmp_path, 3)
    base = ["fit", "--category", "cat", "--data-root", str(tmp_path), "--holdout", "0"]
    assert_one_line_error(run_cli(*base, "--layers", "1,4"), "--layers")
    assert_one_line_error(run_cli(*base, "-d", "5000"), "-d 5000")


def test_weights_that_are_not_a_checkpoint(tmp_path: Path) -> None:
    make_category(tmp_path, 3)
    bogus = tmp_path / "weights.pth"
    bogus.write_bytes(b"not a checkpoint")
    result = run_cli(
        "fit", "--category", "cat", "--data-root", str(tmp_path), "--backbone", "resnet18", "--weights", str(bogus)
    )
    assert_one_line_error(result, "weights.pth")


def test_help_does_not_import_torch() -> None:
    code = "import sys; from padim_edge import cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
