"""Dataset layouts, the ELPV split and batched decoding (tiny synthetic trees, plus the real screw data)."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from padim_edge.data import DatasetSplit, Sample, iter_batches, load_dataset
from padim_edge.data.elpv import labels_file, read_labels
from padim_edge.errors import UserError

H, W = 30, 40  # non-square, so the centre crop cuts the sides


def _write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def _color(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _defect(top: int, left: int) -> tuple[np.ndarray, np.ndarray]:
    """A black image with a white square, and its mask."""
    mask = np.zeros((H, W), np.uint8)
    mask[top : top + 10, left : left + 10] = 255
    return cv2.cvtColor(mask, cv2.COLOR_GRAY2BGR), mask


def _make_mvtec(root: Path) -> Path:
    """root/widget in MVTec layout: 5 train goods (gray, RGBA, 16-bit, corrupt), 2 test goods, 3 defects."""
    cat = root / "widget"
    _write(cat / "train/good/000.png", _color(0))
    _write(cat / "train/good/001.png", cv2.cvtColor(_color(1), cv2.COLOR_BGR2GRAY))
    _write(cat / "train/good/002.png", cv2.cvtColor(_color(2), cv2.COLOR_BGR2BGRA))
    _write(cat / "train/good/003.png", _color(3).astype(np.uint16) * 257)
    (cat / "train/good/004.png").write_bytes(b"not a png")
    (cat / "train/good/notes.txt").write_text("ignored")
    _write(cat / "test/good/000.png", _color(4))
    _write(cat / "test/good/001.jpg", _color(5))
    for i, (top, left) in enumerate([(5, 15), (18, 25)]):
        image, mask = _defect(top, left)
        _write(cat / f"test/scratch/{i:03d}.png", image)
        _write(cat / f"ground_truth/scratch/{i:03d}_mask.png", mask)
    _write(cat / "test/crack/000.png", _color(6))  # no mask
    return cat


def test_mvtec_layout(tmp_path: Path) -> None:
    cat = _make_mvtec(tmp_path)
    with pytest.warns(UserWarning, match="1 defective test image"):
        split = load_dataset("mvtec", tmp_path, "widget")
    assert isinstance(split, DatasetSplit) and (split.name, split.category) == ("mvtec", "widget")
    assert [s.path.name for s in split.train] == ["000.png", "001.png", "002.png", "003.png", "004.png"]
    assert all(s.label == 0 and s.mask_path is None for s in split.train)
    test = {(s.defect_type, s.path.name): s for s in split.test}
    assert [s.defect_type for s in split.test] == ["crack", "good", "good", "scratch", "scratch"]
    assert test["good", "001.jpg"] == Sample(cat / "test/good/001.jpg", 0, "good", None)
    assert test["scratch", "001.png"].mask_path == cat / "ground_truth/scratch/001_mask.png"
    assert test["crack", "000.png"].label == 1 and test["crack", "000.png"].mask_path is None


def test_mvtec_without_test_folder(tmp_path: Path) -> None:
    for i in range(2):
        _write(tmp_path / f"c/train/good/{i}.png", _color(i))
    assert load_dataset("mvtec", tmp_path, "c").test == []


def test_folder_layout(tmp_path: Path) -> None:
    for i in range(3):
        _write(tmp_path / f"good/{i}.bmp", _color(i))
    image, mask = _defect(5, 5)
    _write(tmp_path / "test/good/a.png", _color(9))
    _write(tmp_path / "test/dent/b.png", image)
    _write(tmp_path / "test/dent/c.png", image)
    _write(tmp_path / "masks/dent/b.png", mask)
    _write(tmp_path / "masks/dent/c_mask.png", mask)
    split = load_dataset("folder", tmp_path, ".")
    assert (split.name, split.category, len(split.train)) == ("folder", tmp_path.name, 3)
    assert [(s.label, s.defect_type, s.mask_path) for s in split.test] == [
        (1, "dent", tmp_path / "masks/dent/b.png"),
        (1, "dent", tmp_path / "masks/dent/c_mask.png"),
        (0, "good", None),
    ]
    assert load_dataset("folder", tmp_path.parent, tmp_path.name).test == split.test


def test_batches_shapes_and_corrupt_file_skipped(tmp_path: Path) -> None:
    _make_mvtec(tmp_path)
    with pytest.warns(UserWarning):
        split = load_dataset("mvtec", tmp_path, "widget")
    with pytest.warns(UserWarning, match=r"004\.png"):
        batches = list(iter_batches(split.train, batch_size=2, resize=24, crop=20))
    assert [len(b.samples) for b in batches] == [2, 2]  # 004.png is corrupt
    assert all(b.images.dtype == np.uint8 and b.images.shape[1:] == (20, 20, 3) for b in batches)
    assert all(b.masks is None for b in batches)
    gray = batches[0].images[1]
    assert np.array_equal(gray[..., 0], gray[..., 1])


def test_batch_masks_align_with_images(tmp_path: Path) -> None:
    _make_mvtec(tmp_path)
    with pytest.warns(UserWarning):
        split = load_dataset("mvtec", tmp_path, "widget")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (batch,) = iter_batches(split.test, batch_size=8, resize=24, crop=20, with_masks=True)
    assert batch.masks is not None and batch.masks.dtype == bool and batch.masks.shape == (5, 20, 20)
    assert [s.path.name for s in batch.samples] == [s.path.name for s in split.test]
    for image, mask, sample in zip(batch.images, batch.masks, batch.samples):
        if sample.mask_path is None:
            assert not mask.any()
        else:
            assert mask.any() and np.mean(mask == (image[..., 0] > 127)) > 0.95


def test_user_errors(tmp_path: Path) -> None:
    _write(tmp_path / "one/train/good/0.png", _color(0))
    cases = [
        ("mvtec", tmp_path / "missing", "one", "missing"),
        ("mvtec", tmp_path, "nope", "nope"),
        ("mvtec", tmp_path, "one", "at least 2"),
        ("folder", tmp_path, "one", "good"),
        ("mvtec", None, "one", "--data-root"),
        ("video", tmp_path, "one", "unknown dataset kind"),
        ("elpv", None, "amorphous", "mono, poly"),
    ]
    for kind, root, category, message in cases:
        with pytest.raises(UserError, match=message):
            load_dataset(kind, root, category)


def test_elpv_split_rules() -> None:
    probability = {path: p for path, p, _ in read_labels(labels_file())}
    split = load_dataset("elpv", None, "mono")
    goods = [s for s in split.test if s.label == 0]
    assert (len(split.train), len(goods), len(split.test) - len(goods)) == (441, 147, 369)
    assert all(probability[s.path] == 0 for s in split.train + goods)
    assert all(probability[s.path] > 0.5 for s in split.test if s.label == 1)
    assert not {s.path for s in split.train} & {s.path for s in split.test}
    assert all(s.mask_path is None for s in split.test)
    assert load_dataset("elpv", Path("/ignored"), "mono") == split


def test_elpv_limit() -> None:
    small = load_dataset("elpv", None, "poly", limit=10)
    assert len(small.train) == 10 and len(small.test) == 10
    assert {s.label for s in small.test} == {0, 1}
    assert small == load_dataset("elpv", None, "poly", limit=10)
    assert small.train[0].path.is_file()


def test_real_mvtec_screw(mvtec_root: Path) -> None:
    if not (mvtec_root / "screw").is_dir():
        pytest.skip(f"{mvtec_root / 'screw'} not found")
    split = load_dataset("mvtec", mvtec_root, "screw")
    assert len(split.train) == 320 and len(split.test) == 160
    defects = [s for s in split.test if s.label == 1]
    assert defects and all(s.mask_path is not None and s.mask_path.is_file() for s in defects)
    (batch,) = iter_batches(defects[:2], batch_size=2, resize=64, crop=56, with_masks=True)
    assert batch.images.shape == (2, 56, 56, 3) and batch.masks is not None and batch.masks.any()
