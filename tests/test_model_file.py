"""Models are read one checked way (`model_file.read`): external data outside the model's folder is
refused before anything reads or copies it, and a graph that no longer matches the digest in its metadata is
refused by the runtime, `triton-repo` and `build` alike."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
import pytest
from cli_runner import run_cli
from tamper import metadata_of, with_mean, with_metadata

from padim_edge.contract.names import MEAN
from padim_edge.export.onnx_graph import export_run

SECRET = b"the secret the model must not ship\n"


@pytest.fixture(scope="module")
def external_model(cells_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cells run exported with its tensors in `model.onnx.data` beside the model (as past 2 GB)."""
    return export_run(cells_run, tmp_path_factory.mktemp("external") / "model.onnx", external_threshold=0).path


def _relocated(model: Path, folder: Path, location: str) -> Path:
    """A copy of `model` in `folder` whose external tensors all point at `location`."""
    proto = onnx.load(str(model), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(folder / "model.onnx"))
    return folder / "model.onnx"


def _secret(tmp_path: Path, external_model: Path) -> Path:
    """A file outside the model's folder; holding the model's own tensors, so only the location is wrong."""
    secret = tmp_path / "elsewhere" / "secret.bin"
    secret.parent.mkdir()
    shutil.copyfile(external_model.with_name("model.onnx.data"), secret)
    return secret


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_external_data_outside_the_folder_is_refused_and_nothing_copied(
    how: str, external_model: Path, tmp_path: Path, capfd: pytest.CaptureFixture
):
    secret = _secret(tmp_path, external_model)
    folder = tmp_path / "a" / "b"
    if how == "dotdot":
        model = _relocated(external_model, folder, "../../elsewhere/secret.bin")
    elif how == "absolute":
        model = _relocated(external_model, folder, str(secret))
    else:
        model = _relocated(external_model, folder, "model.onnx.data")
        (folder / "model.onnx.data").symlink_to(secret)
    repo = tmp_path / "repo"
    for args in (["triton-repo", model, repo], ["info", model], ["build", model, "--print-trtexec"]):
        outcome = run_cli(capfd, *args)
        assert outcome.code == 2 and len(outcome.errors) == 1, outcome.err
        assert "outside the model's folder" in outcome.errors[0] and str(model) in outcome.errors[0]
        assert "Traceback" not in outcome.err
    assert not repo.exists() or not any(repo.rglob("*.bin")), "the secret was copied"


def test_external_data_inside_the_folder_is_copied(external_model: Path, tmp_path: Path, capfd: pytest.CaptureFixture):
    outcome = run_cli(capfd, "triton-repo", external_model, tmp_path / "repo", "--name", "cells")
    assert outcome.code == 0, outcome.err
    copied = tmp_path / "repo" / "cells" / "1" / "model.onnx.data"
    assert copied.read_bytes() == external_model.with_name("model.onnx.data").read_bytes()


@pytest.mark.parametrize("external", [False, True])
def test_a_tampered_graph_with_intact_metadata_is_refused_everywhere(
    external: bool, cells_model: Path, external_model: Path, tmp_path: Path, capfd: pytest.CaptureFixture
):
    """The statistics changed, the metadata (digest included) left as it was: what an attacker who edits
    the graph but not the metadata hands over."""
    source = external_model if external else cells_model
    proto = onnx.load(str(source), load_external_data=True)
    altered = with_metadata(with_mean(proto, lambda m: m + 0.25), metadata_of(proto))
    assert any(t.name == MEAN for t in altered.graph.initializer)
    model = tmp_path / "m" / "model.onnx"
    model.parent.mkdir()
    if external:
        onnx.save(altered, str(model), save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    else:
        onnx.save(altered, str(model))
    repo = tmp_path / "repo"
    for args in (["triton-repo", model, repo], ["info", model], ["build", model, "--print-trtexec"]):
        outcome = run_cli(capfd, *args)
        assert outcome.code == 2 and len(outcome.errors) == 1, outcome.err
        assert "does not match the digest" in outcome.errors[0]
    assert not repo.exists() or not any(repo.iterdir())
