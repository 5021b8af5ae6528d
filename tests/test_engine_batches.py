"""TensorRT paths that need no GPU: an engine's batch range (its optimisation profile) is respected from the
warm-up on, and onnxruntime's TensorRT engine cache is keyed by the graph and the precision.

The engine here is described, not built: a backend that takes its batch range from an engine record's
profile and refuses any other batch as TensorRT does, with onnxruntime doing the real scoring behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from padim_edge.contract.engine_record import EngineRecord, Machine
from padim_edge.errors import UserError
from padim_edge.export.onnx_graph import export_run
from padim_edge.model_file.onnx_io import read_onnx_metadata
from padim_edge.runtime.backends import Backend, open_backend
from padim_edge.runtime.backends.ort_tensorrt import ort_tensorrt_cache
from padim_edge.runtime.pipeline import Pipeline, PipelineOptions
from padim_edge.runtime.predictor import Predictor
from padim_edge.runtime.sources import open_source


def _engine_record(model: Path, low: int, opt: int, high: int) -> EngineRecord:
    """What `padim-edge build --batch LOW,OPT,HIGH` records for `model`."""
    h, w = read_onnx_metadata(model).input_hw
    return EngineRecord(
        machine=Machine(tensorrt="10.3.0", gpu="Orin", compute_capability="8.7"),
        precision="fp16",
        input_name="frames",
        profile={"min": [low, h, w, 3], "opt": [opt, h, w, 3], "max": [high, h, w, 3]},
        onnx_path=str(model),
        onnx_sha256="ab" * 32,
        onnx_metadata=read_onnx_metadata(model).document(),
        engine_bytes=1,
        engine_sha256="cd" * 32,
    )


class ProfiledEngine(Backend):
    """An engine with the record's profile: any batch outside min..max is refused, as TensorRT refuses it."""

    def __init__(self, record: EngineRecord, scorer: Backend) -> None:
        self.info, self.scorer = scorer.info, scorer
        self.min_batch, self.max_batch = record.profile["min"][0], record.profile["max"][0]
        self.batches: list[int] = []

    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.min_batch <= len(frames) <= self.max_batch:
            raise UserError(f"batch {len(frames)} outside the engine's range {self.min_batch}..{self.max_batch}")
        self.batches.append(len(frames))
        return self.scorer.infer(frames)


class Keep:
    def __init__(self) -> None:
        self.results: list = []

    def write(self, result: object) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("batch", [3, 11])
def test_an_engine_whose_min_batch_is_4_warms_up_and_scores_every_frame(
    batch: int, cells_model: Path, cell_frames: list[Path]
):
    """docs/jetson.md suggests `--batch 4`-style profiles: the warm-up (one black frame) and every batch the
    pipeline forms (3 frames, or 11: past the max of 8) must reach the engine within 4..8."""
    scorer = open_backend(cells_model)
    engine = ProfiledEngine(_engine_record(cells_model, 4, 4, 8), scorer)
    folder, sink = cell_frames[0].parent, Keep()  # the 10 good test frames
    options = PipelineOptions(batch=batch, keep_images=True)
    summary = Pipeline(open_source(str(folder)), Predictor(engine), sink, options).run()
    assert summary["frames"] == len(list(folder.iterdir())) == 10 and summary["failed"] == 0
    assert engine.batches and all(4 <= n <= 8 for n in engine.batches), engine.batches
    reference = Predictor(scorer)
    for result in sink.results:
        prepared, _ = reference.prepare(result.frame.image)
        expected = reference.infer(prepared[None])[1][0]
        assert result.score == pytest.approx(float(expected), rel=1e-5)


def test_predictor_pads_and_splits_to_the_engine_range(cells_model: Path):
    engine = ProfiledEngine(_engine_record(cells_model, 4, 4, 8), open_backend(cells_model))
    h, w = engine.info.input_hw
    maps, scores = Predictor(engine).infer(np.zeros((10, h, w, 3), np.uint8))
    assert engine.batches == [8, 4] and maps.shape == (10, h, w) and scores.shape == (10,)  # 8, then 2 padded


def test_a_reexport_under_the_same_name_gets_a_new_engine_cache(cells_run: Path, tmp_path: Path):
    """onnxruntime names cached engines after the model file: the cache folder must change with the graph."""
    model = tmp_path / "model.onnx"
    first = ort_tensorrt_cache(model, read_onnx_metadata(export_run(cells_run, model).path))
    again = ort_tensorrt_cache(model, read_onnx_metadata(export_run(cells_run, model).path))
    assert again == first  # the same graph: its engine is reused
    changed = export_run(cells_run, model, fp16_statistics=True)  # same name, another graph
    info = read_onnx_metadata(changed.path)
    assert ort_tensorrt_cache(model, info) != first
    assert ort_tensorrt_cache(model, info, fp16=True) not in (first, ort_tensorrt_cache(model, info))
    assert first.parent == tmp_path / ".ort-trt-cache" and info.export.graph_sha256[:16] in str(
        ort_tensorrt_cache(model, info)
    )
