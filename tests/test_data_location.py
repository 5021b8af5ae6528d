"""Where the tests find the MVTec AD copy: beside the clone however the clone is reached, so the quality
floors run in CI (a fresh clone in another folder, `shared/` copied beside it) instead of skipping."""

from __future__ import annotations

from pathlib import Path

from data_paths import mvtec_candidates


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    """ci/shared/data/mvtec beside ci/clone, where ci/clone is a symlink to a checkout stored elsewhere."""
    data = tmp_path / "ci" / "shared" / "data" / "mvtec"
    data.mkdir(parents=True)
    stored = tmp_path / "store" / "checkout"
    stored.mkdir(parents=True)
    (tmp_path / "ci" / "clone").symlink_to(stored)
    return tmp_path / "ci" / "clone", data


def test_found_beside_a_symlinked_clone(tmp_path: Path):
    clone, data = _layout(tmp_path)
    found = [p for p in mvtec_candidates(clone, {}) if p.is_dir()]
    assert found[:1] == [data]
    resolved_only = [p for p in mvtec_candidates(clone.resolve(), {"PWD": str(clone)}) if p.is_dir()]
    assert resolved_only[:1] == [data]  # a resolved __file__ alone misses it; the shell's path finds it


def test_found_beside_a_folder_above_the_clone(tmp_path: Path):
    data = tmp_path / "shared" / "data" / "mvtec"
    data.mkdir(parents=True)
    clone = tmp_path / "jobs" / "42" / "padim-edge"
    clone.mkdir(parents=True)
    assert [p for p in mvtec_candidates(clone, {}) if p.is_dir()][:1] == [data]


def test_an_explicit_location_wins(tmp_path: Path):
    assert mvtec_candidates(tmp_path, {"PADIM_EDGE_MVTEC": "/data/mvtec"}) == [Path("/data/mvtec")]
