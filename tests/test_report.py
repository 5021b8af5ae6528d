"""padim_edge.report (the evaluation report files) and imaging.overlay's heatmap blend."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from padim_edge.imaging.overlay import overlay_heatmap
from padim_edge.metrics import compute_metrics
from padim_edge.report import write_report

N, SIZE = 6, 32


def _dataset() -> dict:
    """Three good and three defective images of different sizes (frames keep their own), each defect a square
    that its map lights up."""
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 0, 1, 1, 1])
    shapes = [(SIZE, SIZE + 8 * (i % 3)) for i in range(N)]
    masks = [np.zeros(shape, dtype=bool) for shape in shapes]
    for index in (3, 4, 5):
        top, left = rng.integers(2, 20, size=2)
        masks[index][top : top + 8, left : left + 8] = True
    maps = [(rng.random(m.shape) + 2.0 * m).astype(np.float32) for m in masks]
    return {
        "labels": labels,
        "scores": np.array([m.max() for m in maps]),
        "names": [f"{'good' if label == 0 else 'crack'}/{i:03d}.png" for i, label in enumerate(labels)],
        "images": [rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8) for shape in shapes],
        "maps": maps,
        "masks": masks,
    }


def _write(out_dir: Path, data: dict, masks: np.ndarray | None) -> dict[str, Path]:
    metrics = compute_metrics(data["labels"], data["scores"], masks, data["maps"])
    return write_report(
        out_dir,
        metrics,
        data["labels"],
        data["scores"],
        data["names"],
        data["images"],
        data["maps"],
        masks,
        threshold=1.5,
    )


def _assert_png(path: Path) -> None:
    image = cv2.imread(str(path))
    assert image is not None and image.size > 0


def test_write_report_with_masks(tmp_path: Path) -> None:
    data = _dataset()
    out_dir = tmp_path / "report"
    paths = _write(out_dir, data, data["masks"])
    assert set(paths) == {"json", "markdown", "roc", "pro", "overlays"}
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in paths.values())
    saved = json.loads(paths["json"].read_text())
    for key in ("image_auroc", "pixel_auroc", "pro", "n_images", "n_good", "n_defective", "n_regions"):
        assert key in saved
    assert saved["threshold"] == 1.5 and saved["n_regions"] == 3
    assert saved["pro"] == pytest.approx(1.0)
    assert "| pro | 1.0000 |" in paths["markdown"].read_text()
    for kind in ("roc", "pro", "overlays"):
        _assert_png(paths[kind])


def test_write_report_without_masks(tmp_path: Path) -> None:
    data = _dataset()
    paths = _write(tmp_path, data, None)
    assert set(paths) == {"json", "markdown", "roc", "overlays"}
    saved = json.loads(paths["json"].read_text())
    assert saved["pixel_auroc"] is None and saved["pro"] is None
    assert "| pro | n/a |" in paths["markdown"].read_text()
    for kind in ("roc", "overlays"):
        _assert_png(paths[kind])


def test_write_report_rejects_length_mismatch(tmp_path: Path) -> None:
    data = _dataset()
    data["names"] = data["names"][:-1]
    with pytest.raises(ValueError, match="length"):
        _write(tmp_path, data, data["masks"])


def test_overlay_heatmap_colours_and_resize() -> None:
    image = np.full((16, 16, 3), 128, dtype=np.uint8)
    amap = np.zeros((8, 8), dtype=np.float32)
    amap[:, 4:] = 10.0  # right half at vmax, left half at vmin
    out = overlay_heatmap(image, amap, vmin=0.0, vmax=10.0, alpha=1.0)
    assert out.shape == image.shape and out.dtype == np.uint8
    blue, red = out[8, 0], out[8, 15]
    assert blue[0] > blue[2] and red[2] > red[0]  # BGR: JET runs blue (low) to red (high)
    assert np.array_equal(overlay_heatmap(image, amap, 0.0, 10.0, alpha=0.0), image)


def test_overlay_heatmap_rejects_non_bgr() -> None:
    with pytest.raises(ValueError, match="uint8"):
        overlay_heatmap(np.zeros((4, 4), dtype=np.uint8), np.zeros((4, 4)), 0.0, 1.0)
