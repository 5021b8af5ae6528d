"""Dataset layouts, the ELPV split and batched decoding: small trees of real ELPV cells (in the forms
cameras and tools write them: gray, RGBA, 16-bit, JPEG), plus the real MVTec screw data where present."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from bad_files import header_bomb

from padim_edge.data import DatasetSplit, Sample, iter_batches, load_dataset
from padim_edge.data.elpv import labels_file, read_labels
from padim_edge.errors import UserError
from padim_edge.imaging.geometry import Geometry

H, W = 30, 40  # small and not square


@pytest.fixture(scope="module")
def cells() -> list[np.ndarray]:
    """Eight real ELPV cells, shrunk to W x H."""
    paths = [s.path for s in load_dataset("elpv", None, "mono").train[:8]]
    return [cv2.resize(cv2.imread(str(p)), (W, H), interpolation=cv2.INTER_AREA) for p in paths]


def _write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def _defect(cell: np.ndarray, top: int, left: int) -> tuple[np.ndarray, np.ndarray]:
    """A cell with a white square painted on it, and the square's mask."""
    mask = np.zeros((H, W), np.uint8)
    mask[top : top + 10, left : left + 10] = 255
    image = cell.copy()
    image[mask > 0] = 255
    return image, mask


def _make_mvtec(root: Path, cells: list[np.ndarray]) -> Path:
    """root/widget in MVTec layout: 5 train goods (BGR, gray, RGBA, 16-bit, corrupt), 2 test goods, 3 defects."""
    cat = root / "widget"
    _write(cat / "train/good/000.png", cells[0])
    _write(cat / "train/good/001.png", cv2.cvtColor(cells[1], cv2.COLOR_BGR2GRAY))
    _write(cat / "train/good/002.png", cv2.cvtColor(cells[2], cv2.COLOR_BGR2BGRA))
    _write(cat / "train/good/003.png", cells[3].astype(np.uint16) * 257)
    (cat / "train/good/004.png").write_bytes(b"not a png")
    (cat / "train/good/notes.txt").write_text("ignored")
    _write(cat / "test/good/000.png", cells[4])
    _write(cat / "test/good/001.jpg", cells[5])
    for i, (top, left) in enumerate([(5, 15), (18, 25)]):
        image, mask = _defect(cells[6], top, left)
        _write(cat / f"test/scratch/{i:03d}.png", image)
        _write(cat / f"ground_truth/scratch/{i:03d}_mask.png", mask)
    _write(cat / "test/crack/000.png", cells[7])  # no mask
    return cat


def test_mvtec_layout(tmp_path: Path, cells: list[np.ndarray]) -> None:
    cat = _make_mvtec(tmp_path, cells)
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


def test_mvtec_without_test_folder(tmp_path: Path, cells: list[np.ndarray]) -> None:
    for i in range(2):
        _write(tmp_path / f"c/train/good/{i}.png", cells[i])
    assert load_dataset("mvtec", tmp_path, "c").test == []


def test_folder_layout(tmp_path: Path, cells: list[np.ndarray]) -> None:
    for i in range(3):
        _write(tmp_path / f"good/{i}.bmp", cells[i])
    image, mask = _defect(cells[3], 5, 5)
    _write(tmp_path / "test/good/a.png", cells[4])
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


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "crop"])
def test_batches_shapes_and_unreadable_files_skipped(tmp_path: Path, cells: list[np.ndarray], mode: str) -> None:
    _make_mvtec(tmp_path, cells)
    header_bomb(tmp_path / "widget/train/good/005.png")
    with pytest.warns(UserWarning):
        split = load_dataset("mvtec", tmp_path, "widget")
    skipped: list[str] = []
    batches = list(iter_batches(split.train, 2, Geometry(32, 48, mode), on_skip=skipped.append))
    assert [len(b.samples) for b in batches] == [2, 2]  # 004.png is corrupt, 005.png declares 400 MP
    assert ["004.png" in skipped[0], "005.png" in skipped[1] and "20000x20000" in skipped[1]] == [True, True]
    assert all(b.images.dtype == np.uint8 and b.images.shape[1:] == (32, 48, 3) for b in batches)
    assert all(b.masks is None and b.frames is None for b in batches)
    gray = batches[0].images[1]  # 001.png: grayscale, decoded to three equal planes
    assert np.array_equal(gray[..., 0], gray[..., 1])


def test_masks_stay_at_the_frames_resolution(tmp_path: Path, cells: list[np.ndarray]) -> None:
    _make_mvtec(tmp_path, cells)
    with pytest.warns(UserWarning):
        split = load_dataset("mvtec", tmp_path, "widget")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (batch,) = iter_batches(split.test, 8, Geometry(32, 32, "crop"), keep_frames=True, with_masks=True)
    assert [s.path.name for s in batch.samples] == [s.path.name for s in split.test]
    for frame, mask, sample in zip(batch.frames, batch.masks, batch.samples):
        assert frame.shape == (H, W, 3) and mask.shape == (H, W) and mask.dtype == bool
        if sample.mask_path is None:
            assert not mask.any()
        else:  # the painted square, exactly
            assert mask.sum() == 100 and (frame[mask] == 255).all()


def test_a_corrupt_mask_skips_its_sample(tmp_path: Path, cells: list[np.ndarray]) -> None:
    cat = _make_mvtec(tmp_path, cells)
    (cat / "ground_truth/scratch/000_mask.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.warns(UserWarning):
        split = load_dataset("mvtec", tmp_path, "widget")
    skipped: list[str] = []
    (batch,) = iter_batches(split.test, 8, Geometry(32, 32), with_masks=True, on_skip=skipped.append)
    assert len(batch.samples) == 4 and len(skipped) == 1 and "000_mask.png" in skipped[0]


def test_user_errors(tmp_path: Path, cells: list[np.ndarray]) -> None:
    _write(tmp_path / "one/train/good/0.png", cells[0])
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
    with pytest.raises(UserError, match="batch size"):
        next(iter_batches([], 0, Geometry(32, 32)))


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
    (batch,) = iter_batches(defects[:2], 2, Geometry(64, 64), keep_frames=True, with_masks=True)
    assert batch.images.shape == (2, 64, 64, 3) and all(
        m.shape == f.shape[:2] for m, f in zip(batch.masks, batch.frames)
    )
    assert any(m.any() for m in batch.masks)
