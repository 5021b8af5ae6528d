"""`fit --select`: synthetic defects on real good images, the choice rule, and a select fit end to end on real
ELPV cells (Lite0, packaged ImageNet weights), recorded in the run and in its eval report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli

from padim_edge.imaging.decode import read_image
from padim_edge.model.synthetic_defects import KINDS, STRENGTHS, add_defect
from padim_edge.select import CANDIDATES, MARGIN, choose


@pytest.fixture(scope="module")
def goods(cells_root: Path) -> list[np.ndarray]:
    return [read_image(p) for p in sorted((cells_root / "cells" / "good").iterdir())[:4]]


@pytest.mark.parametrize("kind", KINDS)
def test_a_defect_is_local_seeded_and_stronger_up_the_ladder(kind: str, goods: list[np.ndarray]) -> None:
    image, donor = goods[0], goods[1]
    changes = []
    for strength in STRENGTHS:
        out = add_defect(image, donor, kind, strength, np.random.default_rng(7))
        again = add_defect(image, donor, kind, strength, np.random.default_rng(7))
        assert out.shape == image.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out, again)  # the seed decides everything
        moved = np.abs(out.astype(int) - image.astype(int)).max(axis=2) > 2
        assert 0 < moved.mean() < 0.05, f"{kind}: {moved.mean():.4f} of the pixels changed"
        changes.append(np.abs(out.astype(int) - image.astype(int)).sum())
    assert changes[0] < changes[1]  # faint, then plain
    other = add_defect(image, donor, kind, STRENGTHS[0], np.random.default_rng(8))
    assert not np.array_equal(other, add_defect(image, donor, kind, STRENGTHS[0], np.random.default_rng(7)))


def test_an_unknown_kind_is_refused(goods: list[np.ndarray]) -> None:
    with pytest.raises(ValueError, match="unknown defect kind"):
        add_defect(goods[0], goods[1], "crack", 0.5, np.random.default_rng(0))


def _results(*aurocs: float) -> list[dict]:
    return [{"name": c.name, "auroc": a} for c, a in zip(CANDIDATES, aurocs)]


def test_the_default_is_kept_unless_beaten_by_more_than_the_margin() -> None:
    assert CANDIDATES[0].name == "default" and CANDIDATES[0].options == {}
    assert choose(_results(0.90, 0.90 + MARGIN * 0.9, 0.85, 0.80)).name == "default"
    assert choose(_results(0.90, 0.90 + MARGIN * 1.5, 0.90 + MARGIN * 2, 0.80)).name == CANDIDATES[2].name
    assert choose(_results(0.90, 0.95, 0.92, 0.99)).name == CANDIDATES[3].name


def test_select_fit_records_its_trials_and_applies_the_choice(capfd, cells_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "cells"
    outcome = run_cli(
        capfd, "fit", "--dataset", "folder", "--data-root", cells_root, "--category", "cells", "--select",
        "--out", out, "--quiet", limit_s=900,
    )  # fmt: skip
    assert outcome.code == 0, outcome.err
    config = json.loads((out / "config.json").read_text())
    trials = config["selection"]
    assert [t["name"] for t in trials] == [c.name for c in CANDIDATES]
    assert sum(t["chosen"] for t in trials) == 1 and "synthetic defects" in config["selection_rule"]
    for t in trials:
        assert 0.5 < t["auroc"] <= 1 and set(t["by_kind"]) == set(KINDS)
    chosen = next(c for c in CANDIDATES if c.name == next(t["name"] for t in trials if t["chosen"]))
    assert chosen.name == choose(trials).name
    layers = chosen.options.get("layers", ("blocks.4", "blocks.10"))
    assert tuple(config["layers"]) == layers and config["n_train"] == 32  # every image in the final fit
    assert "| candidate | flags | synthetic AUROC |" in outcome.out
    assert sorted(p.name for p in out.parent.iterdir()) == ["cells"]  # the trials are gone
    evaluated = run_cli(capfd, "eval", out, "--quiet", limit_s=300)
    assert evaluated.code == 0, evaluated.err
    report = (out / "eval" / "metrics.md").read_text()
    assert "## Settings chosen by fit --select" in report and f"| {chosen.name} |" in report
