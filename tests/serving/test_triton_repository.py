"""Triton model repositories: every config.pbtxt parsed with Triton's own protobuf schema and checked
against the model; `triton-repo`, `export --triton`, TensorRT plans, and what `serve` reads from an entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from padim_edge.cli import app, main
from padim_edge.contract.engine_record import EngineRecord, Machine
from padim_edge.engine.record_file import write_record
from padim_edge.errors import UserError
from padim_edge.runtime.backends import open_backend
from padim_edge.serving.pbtxt import Map, to_pbtxt
from padim_edge.serving.repository_entry import resolve_model
from padim_edge.serving.triton_repository import RepositoryOptions, write_repository

pytest.importorskip("tritonclient", reason="needs the serve extra: pip install 'padim-edge[serve]'")
from google.protobuf import text_format  # noqa: E402
from tritonclient.grpc import model_config_pb2  # noqa: E402


def parse(entry: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse((entry / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def check_io(config: model_config_pb2.ModelConfig, hw: tuple[int, int]) -> None:
    """Inputs, outputs, warm-up and metadata as the exported graph has them (batch dim implicit)."""
    types = model_config_pb2.DataType
    assert [(i.name, types.Name(i.data_type), list(i.dims)) for i in config.input] == [
        ("frames", "TYPE_UINT8", [*hw, 3])
    ]
    outputs = {o.name: o for o in config.output}
    assert types.Name(outputs["anomaly_map"].data_type) == "TYPE_FP32"
    assert list(outputs["anomaly_map"].dims) == [1, *hw]
    score = outputs["score"]  # the graph's [N] output: dims [1] for the API, reshaped to [] for the model
    assert types.Name(score.data_type) == "TYPE_FP32" and list(score.dims) == [1]
    assert score.HasField("reshape") and list(score.reshape.shape) == []
    (warmup,) = config.model_warmup
    assert warmup.batch_size == 1 and warmup.inputs["frames"].zero_data
    assert list(warmup.inputs["frames"].dims) == [*hw, 3]


def test_onnx_entry_matches_the_model(tiny_onnx: Path, tmp_path: Path):
    options = RepositoryOptions(name="cells", max_batch=16, queue_delay_us=500, instances=2)
    (entry,) = write_repository(tiny_onnx, tmp_path / "repo", options)
    assert entry == tmp_path / "repo" / "cells"
    config = parse(entry)
    info = open_backend(tiny_onnx).info
    assert config.name == "cells" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 16
    check_io(config, info.input_hw)
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    (group,) = config.instance_group
    assert group.count == 2 and model_config_pb2.ModelInstanceGroup.Kind.Name(group.kind) == "KIND_CPU"
    metadata = json.loads(config.parameters["padim_edge"].string_value)
    assert metadata["threshold"] == info.threshold
    assert (metadata["input_height"], metadata["input_width"]) == info.input_hw == (64, 96)
    assert (entry / "1" / "model.onnx").read_bytes() == tiny_onnx.read_bytes()
    assert not config.HasField("optimization")
    served = resolve_model(entry)
    assert (served.onnx, served.name, served.max_batch, served.queue_delay_us, served.instances) == (
        entry / "1" / "model.onnx",
        "cells",
        16,
        500,
        2,
    )


def test_tensorrt_plan_and_accelerator_entries(tiny_onnx: Path, tmp_path: Path):
    model = tmp_path / "model.onnx"
    model.write_bytes(tiny_onnx.read_bytes())
    engine = model.with_suffix(".engine")
    engine.write_bytes(b"a serialised engine")
    metadata = _onnx_metadata(tiny_onnx)
    hw = (metadata["input_height"], metadata["input_width"])
    record = EngineRecord(
        machine=Machine(tensorrt="10.3.0", gpu="Orin", compute_capability="8.7"),
        precision="fp16",
        input_name="frames",
        profile={"min": [1, *hw, 3], "opt": [4, *hw, 3], "max": [12, *hw, 3]},
        onnx_path=str(model),
        onnx_sha256="0" * 64,
        onnx_metadata=metadata,
        engine_bytes=engine.stat().st_size,
        engine_sha256="0" * 64,
    )
    write_record(engine, record)
    entries = write_repository(model, tmp_path / "repo", RepositoryOptions(ort_tensorrt=True))
    assert [e.name for e in entries] == ["mono", "mono_trt"]
    onnx_config, plan_config = parse(entries[0]), parse(entries[1])
    kind = model_config_pb2.ModelInstanceGroup.Kind.Name
    (accelerator,) = onnx_config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP32"
    assert kind(onnx_config.instance_group[0].kind) == "KIND_GPU"
    assert plan_config.platform == "tensorrt_plan" and plan_config.max_batch_size == 12
    assert kind(plan_config.instance_group[0].kind) == "KIND_GPU"
    check_io(plan_config, hw)
    assert json.loads(plan_config.parameters["padim_edge"].string_value) == metadata
    assert (entries[1] / "1" / "model.plan").read_bytes() == b"a serialised engine"
    with pytest.raises(UserError, match="tensorrt_plan"):
        resolve_model(entries[1])


def test_cli_triton_repo_and_export_triton(tiny_run: Path, tmp_path: Path):
    runner = CliRunner()
    done = runner.invoke(app, ["triton-repo", str(tiny_run / "model.onnx"), str(tmp_path / "a"), "--name", "cells"])
    assert done.exit_code == 0 and "wrote" in done.output, done.output
    export = ["export", str(tiny_run), "--out", str(tmp_path / "b.onnx"), "--triton", str(tmp_path / "b")]
    again = runner.invoke(app, export)
    assert again.exit_code == 0, again.output
    first, second = parse(tmp_path / "a" / "cells"), parse(tmp_path / "b" / "mono")
    assert first.parameters["padim_edge"] == second.parameters["padim_edge"]  # same run, same metadata
    assert second.name == "mono"  # the model's category


def test_bad_models_and_names_are_one_line_errors(tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    import onnx

    foreign = tmp_path / "foreign.onnx"
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "g", [value("x", 1, [1])], [value("y", 1, [1])])
    onnx.save(onnx.helper.make_model(graph), str(foreign))
    code = main(["triton-repo", str(foreign), str(tmp_path / "repo")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "no padim-edge metadata" in err  # read as the runtime reads
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(UserError, match="no such ONNX model"):
        write_repository(tmp_path / "missing.onnx", tmp_path / "repo")
    with pytest.raises(UserError, match="model name 'a/b'"):
        write_repository(tiny_onnx, tmp_path / "repo", RepositoryOptions(name="a/b"))
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").iterdir())


def test_pbtxt_strings_survive_the_round_trip():
    tricky = 'quote " backslash \\ newline \n tab \t bell \x07 é'
    text = to_pbtxt({"name": tricky, "parameters": Map(k={"string_value": tricky})})
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert config.name == tricky and config.parameters["k"].string_value == tricky


def _onnx_metadata(path: Path) -> dict:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return json.loads(next(p.value for p in proto.metadata_props if p.key == "padim_edge"))
