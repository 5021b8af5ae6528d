"""The embedded default: ELPV solar cells (the elpv-dataset package) with packaged Lite0 weights."""

from pathlib import Path

from padim_edge.data import load_dataset
from padim_edge.evaluate import evaluate
from padim_edge.fit import FitOptions, fit


def test_elpv_subset_fits_and_detects_defects(tmp_path: Path) -> None:
    split = load_dataset("elpv", None, "mono", limit=120)
    fit(split, tmp_path / "run", FitOptions(show_progress=False))
    metrics = evaluate(tmp_path / "run", split, tmp_path / "report", show=False)
    assert metrics["image_auroc"] > 0.7, metrics
    assert metrics["pixel_auroc"] is None  # ELPV has image labels only
