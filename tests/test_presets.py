"""`fit --preset`: a named preset fits exactly what its documented flags fit, and names only fields a fit has."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest
from cli_runner import run_cli

from padim_edge.commands.fit import PRESET_FIELDS
from padim_edge.fit import FitOptions
from padim_edge.presets import PRESETS, preset


def test_every_preset_sets_fit_options_that_flags_can_set() -> None:
    known = {f.name for f in fields(FitOptions)}
    settable = set().union(*PRESET_FIELDS.values())
    for p in PRESETS:
        assert set(p.options) <= known & settable, p.name
        assert bool(p.flags) == bool(p.options), p.name
    assert PRESETS[0].name == "default" and preset("texture").options["layers"][0] == "blocks.2"


def test_a_preset_fits_what_its_flags_fit(capfd, cells_root: Path, tmp_path: Path) -> None:
    texture = preset("texture")
    common = ["fit", "--dataset", "folder", "--data-root", cells_root, "--category", "cells", "--limit", "8", "--quiet"]
    by_name = run_cli(capfd, *common, "--preset", "texture", "--out", tmp_path / "named", limit_s=300)
    assert by_name.code == 0, by_name.err
    by_flags = run_cli(capfd, *common, *texture.flags.split(), "--out", tmp_path / "flags", limit_s=300)
    assert by_flags.code == 0, by_flags.err
    named, flagged = (json.loads((tmp_path / f / "config.json").read_text()) for f in ("named", "flags"))
    assert named["layers"] == list(texture.options["layers"]) and named["pooling"] == [3, 3, 3]
    assert named["statistics_sha256"] == flagged["statistics_sha256"]


@pytest.mark.parametrize("name", ["size-288", "tiles-4"])
def test_other_flags_combine_with_a_preset_that_does_not_set_them(capfd, cells_root: Path, tmp_path: Path, name: str):
    out = tmp_path / name
    outcome = run_cli(
        capfd, "fit", "--dataset", "folder", "--data-root", cells_root, "--category", "cells", "--limit", "6",
        "--preset", name, "--eps", "2", "--out", out, "--quiet", limit_s=300,
    )  # fmt: skip
    assert outcome.code == 0, outcome.err
    config = json.loads((out / "config.json").read_text())
    assert config["eps"] == 2.0
    assert min(config["input_height"], config["input_width"]) == 288 if name == "size-288" else config["cov_block"] == 4
