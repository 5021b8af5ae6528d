"""Backbone weight files: torch.hub downloads are checked against the hash prefix in their name (a real
download through torch.hub, from a file:// URL), and a bad checkpoint is one line of ours, no torch chatter."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from cli_runner import run_cli

from padim_edge.errors import UserError
from padim_edge.model.weights import hub_file


@pytest.fixture
def hub_dir(tmp_path: Path) -> Iterator[Path]:
    """torch.hub's cache in a temporary folder for the test."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        yield tmp_path / "hub" / "checkpoints"
    finally:
        torch.hub.set_dir(previous)


def _published(folder: Path, state: dict, prefix: str | None = None) -> str:
    """A real checkpoint published as NAME-PREFIX.pth (PREFIX: its sha256's first 8 digits unless given)."""
    staged = folder / "staged.pth"
    torch.save(state, staged)
    digest = hashlib.sha256(staged.read_bytes()).hexdigest()
    published = folder / f"resnet18-{prefix or digest[:8]}.pth"
    staged.rename(published)
    return published.as_uri()


def test_a_download_matching_its_hash_prefix_is_kept(hub_dir: Path, tmp_path: Path):
    url = _published(tmp_path, {"w": torch.arange(4.0)})
    path = hub_file(url)
    assert path.parent == hub_dir and torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(4.0))
    assert hub_file(url) == path  # from the cache, checked again


def test_a_download_not_matching_its_hash_prefix_is_refused(hub_dir: Path, tmp_path: Path):
    url = _published(tmp_path, {"w": torch.zeros(4)}, prefix="00000000")
    with pytest.raises(UserError, match="does not match its hash prefix 00000000"):
        hub_file(url)
    assert not hub_dir.exists() or not any(hub_dir.iterdir()), "a file that failed its check was kept"


def test_a_cached_file_not_matching_its_name_is_refused(hub_dir: Path, tmp_path: Path):
    url = _published(tmp_path, {"w": torch.ones(4)})
    hub_dir.mkdir(parents=True)
    (hub_dir / url.rsplit("/", 1)[1]).write_bytes(b"replaced in the cache")
    with pytest.raises(UserError, match="its sha256 does not start with"):
        hub_file(url)


def test_a_pickle_as_weights_is_our_one_line_only(tmp_path: Path, capfd: pytest.CaptureFixture):
    """A pickle of protocol 4 makes torch warn about the protocol before refusing it: only our line shows."""
    weights = tmp_path / "weights.pkl"
    weights.write_bytes(pickle.dumps({"conv1.weight": [1.0, 2.0]}, protocol=4))
    out = tmp_path / "run"
    outcome = run_cli(capfd, "fit", "--dataset", "elpv", "--category", "mono", "--weights", weights, "--out", out)
    assert outcome.code == 2 and outcome.err.splitlines() == outcome.errors, outcome.err
    assert len(outcome.errors) == 1 and "not a loadable weights-only checkpoint" in outcome.errors[0]
