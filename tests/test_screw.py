"""Quality on the MVTec AD screw copy with the default settings, on square frames and on wide ones.

Dataset-specific: skipped where ../shared/data/mvtec is absent. The floors sit under what `make choices`
measured for the default (docs/choices.md: mean over 3 seeds), so a regression fails here and seed noise
does not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pairs import side_by_side, write_png

from padim_edge.data import DatasetSplit, Sample, load_dataset
from padim_edge.evaluate import predict_split
from padim_edge.fit import FitOptions, fit
from padim_edge.metrics import compute_metrics, image_auroc

FLOORS = {"image_auroc": 0.88, "pixel_auroc": 0.985, "pro": 0.93}
PAIRS = 80  # wide frames to fit on; the square model is fitted on as many single screws


@pytest.fixture(scope="module")
def screw(mvtec_root: Path) -> DatasetSplit:
    return load_dataset("mvtec", mvtec_root, "screw")


def test_default_quality_floors(screw: DatasetSplit, mvtec_root: Path, tmp_path: Path) -> None:
    """Image AUROC, pixel AUROC and PRO on the whole original frames (maps placed back, masks uncropped)."""
    config = fit(screw, tmp_path / "run", FitOptions(show_progress=False), mvtec_root)
    assert config.input_hw == (224, 224) and config.resize_mode == "stretch" and config.pooling == [3, 1, 1]
    pred = predict_split(tmp_path / "run", screw.test, show=False)
    metrics = compute_metrics(pred.labels, pred.scores, pred.masks, pred.maps)
    for name, floor in FLOORS.items():
        assert metrics[name] >= floor, (name, metrics[name])


def test_two_screws_side_by_side_score_like_one(screw: DatasetSplit, tmp_path: Path) -> None:
    """1024x512 frames of two screws, the defective one in the left or the right half: the model takes the
    frame's aspect ratio, so nothing is cut off, and image AUROC stays close to that of a square model
    fitted on as many single screws and scored on the same test screws singly."""
    goods = [s.path for s in screw.train]
    test_goods = [s for s in screw.test if s.label == 0]
    defects = [s for s in screw.test if s.label == 1][::4]
    root = tmp_path / "pairs"
    for i in range(PAIRS):
        write_png(root / "screws" / "good" / f"{i:03d}.png", side_by_side(goods[2 * i], goods[2 * i + 1]))
    for i in range(len(test_goods) // 2):
        pair = side_by_side(test_goods[2 * i].path, test_goods[2 * i + 1].path)
        write_png(root / "screws" / "test" / "good" / f"{i:03d}.png", pair)
    for i, defect in enumerate(defects):
        partner = test_goods[i % len(test_goods)].path
        pair = (defect.path, partner) if i % 2 else (partner, defect.path)
        write_png(root / "screws" / "test" / "defect" / f"{i:03d}.png", side_by_side(*pair))
    pairs = load_dataset("folder", root, "screws")
    config = fit(pairs, tmp_path / "wide", FitOptions(show_progress=False), root)
    assert config.input_hw == (224, 448)
    wide = predict_split(tmp_path / "wide", pairs.test, show=False)
    wide_auroc = image_auroc(wide.labels, wide.scores)
    singles: list[Sample] = test_goods + defects
    fit(
        DatasetSplit("mvtec", "screw", screw.train[: 2 * PAIRS : 2], []),
        tmp_path / "square",
        FitOptions(show_progress=False),
    )
    square = predict_split(tmp_path / "square", singles, show=False)
    square_auroc = image_auroc(square.labels, square.scores)
    assert wide_auroc >= 0.8 and wide_auroc >= square_auroc - 0.06, (wide_auroc, square_auroc)
    assert all(m.shape == (512, 1024) and m.min() > 0 for m in wide.maps)  # every pixel of the frame scored
