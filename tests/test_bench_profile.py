"""The bench's machine class, its evidence about capping onnxruntime's instruction set, and the per-operator
profile of a real exported model (the cells model: real ELPV images, real onnxruntime)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.machine import cpu_class, ort_isa_cap
from benchmarks.profile_ops import profile, table
from padim_edge.contract.metadata import read_onnx_metadata
from padim_edge.imaging.decode import read_image
from padim_edge.imaging.geometry import Geometry

ROOT = Path(__file__).resolve().parents[1]
ZEN2 = "fpu sse4_2 avx f16c fma avx2 bmi2 sha_ni"  # an AVX2-only server
SAPPHIRE_RAPIDS = "avx2 fma avx512f avx512bw avx512vl avx_vnni avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16"
ICE_LAKE = "avx2 fma avx512f avx512bw avx512vl avx512_vnni"
ALDER_LAKE = "avx2 fma avx_vnni"
ORIN = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (ZEN2, "avx2"),
        (SAPPHIRE_RAPIDS, "amx"),
        (ICE_LAKE, "avx512-vnni"),
        ("avx2 fma avx512f avx512bw avx512vl", "avx512"),
        (ALDER_LAKE, "avx2-vnni"),
        (ORIN, "neon-dotprod"),
        ("fp asimd", "neon"),
        ("sse4_2", "baseline"),
    ],
)
def test_cpu_class_names_the_fastest_instruction_set_present(flags: str, named: str) -> None:
    assert cpu_class(set(flags.split())) == named


def test_isa_cap_evidence_comes_from_the_installed_onnxruntime() -> None:
    import onnxruntime as ort

    cap = ort_isa_cap()
    assert ort.__version__ in cap["why"]
    assert cap["possible"] == bool(cap["variables"])
    assert set(cap["variables"]) <= set(cap["isa_names_in_library"])
    assert all(n.startswith(("ORT_", "MLAS_", "ONEDNN_", "DNNL_")) for n in cap["isa_names_in_library"])


def _frames(model: Path, cell_frames: list[Path], count: int) -> np.ndarray:
    geometry = Geometry.of(read_onnx_metadata(model).config)
    return np.stack([geometry.prepare(read_image(p))[0] for p in cell_frames[:count]])


def test_profile_sums_real_node_times_by_operator_and_stage(cells_model: Path, cell_frames: list[Path]) -> None:
    found = profile(cells_model, _frames(cells_model, cell_frames, 2), threads=1, warmup=1, calls=3)
    assert found["batch"] == 2 and found["calls"] == 3
    assert {"Conv", "MatMul"} <= set(found["by_op"])  # the backbone's convolutions and the head
    assert {"backbone", "head", "post"} <= set(found["by_stage"])
    assert sum(f["share"] for f in found["by_op"].values()) == pytest.approx(1, abs=1e-3)
    total = sum(f["ms_per_call"] for f in found["by_stage"].values())
    assert total == pytest.approx(found["nodes_ms_per_call"], rel=0.01)
    assert any(line.startswith("| Conv |") for line in table(found))


def test_profile_command_writes_its_tables_and_json(cells_model: Path, cell_frames: list[Path], tmp_path: Path) -> None:
    inputs, out = tmp_path / "x.npy", tmp_path / "profile.json"
    np.save(inputs, _frames(cells_model, cell_frames, 1), allow_pickle=False)
    cmd = [sys.executable, "-m", "benchmarks.profile_ops", str(cells_model), "--inputs", str(inputs)]
    cmd += ["--batches", "1,2", "--calls", "2", "--warmup", "1", "--threads", "1", "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Batch 1:" in done.stdout and "Batch 2:" in done.stdout
    assert [b["batch"] for b in json.loads(out.read_text())] == [1, 2]
