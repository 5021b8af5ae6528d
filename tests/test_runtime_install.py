"""The runtime-only install (`pip install 'padim-edge[cpu]'`, no PyTorch), for real: a fresh venv built once
per session, the `padim-edge` command it installs scoring with the model, and every command that needs an
extra saying in one line which one, with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import ROOT, Outcome


@pytest.fixture(scope="session")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding `padim-edge[cpu]` only; skips the tests where pip cannot install it (no network)."""
    venv = tmp_path_factory.mktemp("runtime-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", f"{ROOT}[cpu]"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"pip could not install padim-edge[cpu] into a fresh venv (offline?): {last}")
    return venv


def _cli(venv: Path, *args: object) -> Outcome:
    done = subprocess.run(
        [venv / "bin" / "padim-edge", *map(str, args)], capture_output=True, text=True, timeout=300, cwd=venv
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def test_the_runtime_install_has_no_torch_and_scores(runtime_venv: Path, cells_model: Path, cell_frames: list[Path]):
    probe = subprocess.run([runtime_venv / "bin" / "python", "-c", "import torch"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr
    outcome = _cli(runtime_venv, "predict", "--model", cells_model, "--json", *cell_frames[:2])
    assert outcome.code == 0 and len(outcome.out.splitlines()) == 2, outcome.err


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["fit", "--dataset", "elpv", "--category", "mono", "--out", "run"], "fit"),
        (["eval", "run"], "fit"),
        (["export", "run"], "fit"),
        (["verify", "run"], "fit"),
        (["run", "--server", "grpc://127.0.0.1:9", "--model-name", "m", "--source", "."], "serve"),
    ],
)
def test_a_command_needing_an_extra_says_which_in_one_line(runtime_venv: Path, args: list[str], extra: str):
    outcome = _cli(runtime_venv, *args)
    assert outcome.code == 2, outcome.err
    assert outcome.err.splitlines() == outcome.errors and len(outcome.errors) == 1, outcome.err
    assert f"pip install 'padim-edge[{extra}]'" in outcome.errors[0] and f"padim-edge {args[0]}" in outcome.errors[0]


def test_the_openvino_backend_without_its_extra_says_which(
    runtime_venv: Path, cells_model: Path, cell_frames: list[Path]
):
    outcome = _cli(runtime_venv, "predict", "--model", cells_model, "--backend", "openvino", cell_frames[0])
    assert outcome.code == 2, outcome.err
    assert len(outcome.errors) == 1 and "pip install 'padim-edge[openvino]'" in outcome.errors[0], outcome.err


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--mqtt", "mqtt://127.0.0.1:9/line"),
        ("--opcua", "opc.tcp://127.0.0.1:48400"),
        ("--modbus-coil", "127.0.0.1:9:0"),
    ],
)
def test_a_line_sink_without_its_extra_says_which(
    runtime_venv: Path, cells_model: Path, cell_frames: list[Path], flag: str, value: str
):
    outcome = _cli(runtime_venv, "run", "--model", cells_model, "--source", cell_frames[0].parent, flag, value)
    assert outcome.code == 2, outcome.err
    assert len(outcome.errors) == 1 and "pip install 'padim-edge[line]'" in outcome.errors[0], outcome.err
