"""The torch-free contract: the config schema and its versions, the metadata round trip, graph I/O checks."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from padim_edge.contract.metadata import ExportFacts, ModelInfo, check_io, parse_metadata
from padim_edge.contract.schema import ModelConfig, parse_config
from padim_edge.errors import UserError
from padim_edge.model_file.onnx_io import read_onnx_metadata


def config_dict(**changes: object) -> dict:
    base = {
        "format_version": 2,
        "backbone": "efficientnet_lite0",
        "weights_source": "package:x",
        "weights_sha256": "a" * 64,
        "layers": ["blocks.2", "blocks.4", "blocks.10"],
        "pooling": [3, 1, 1],
        "channel_indices": [0, 5, 30, 175],
        "d": 4,
        "input_height": 224,
        "input_width": 400,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "threshold": 12.5,
    }
    return {**base, **changes}


def test_a_valid_config_round_trips() -> None:
    config = parse_config(config_dict(), "c.json")
    assert config.input_hw == (224, 400) and config.resize_mode == "stretch"
    assert parse_config(json.loads(config.to_json()), "again") == config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"input_height": "224"}, "input_height: Input should be a valid integer"),
        ({"input_width": -3}, "input_width: Input should be greater than or equal to 32"),
        ({"threshold": "high"}, "threshold: Input should be a valid number"),
        ({"threshold": 0.0}, "threshold: Input should be greater than 0"),
        ({"threshold": float("nan")}, "threshold: Input should be a finite number"),
        ({"resize_mode": "squash"}, "resize_mode"),
        ({"layers": ["blocks.2", "blocks.4", "blocks.99"]}, "not taps of efficientnet_lite0"),
        ({"pooling": [3, 1]}, "pooling: 2 kernel sizes for 3 layers"),
        ({"pooling": [3, 1, 11]}, "pooling.2"),
        ({"layers": ["blocks.4", "blocks.2", "blocks.10"]}, "forward order"),
        ({"channel_indices": [0, 5, 30, 176]}, "each below 176"),
        ({"channel_indices": [5, 0, 30, 175]}, "must increase"),
        ({"d": 3}, "d: 3 but 4 channel_indices"),
        ({"backbone": "vgg16"}, "unknown 'vgg16'"),
        ({"std": [0.5, 0.0, 0.5]}, "std.1"),
        ({"extra": 1}, "extra: Extra inputs are not permitted"),
        ({"format_version": 7}, "unknown padim-edge format version 7"),
    ],
)
def test_invalid_configs_are_one_line_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(UserError) as err:
        parse_config(config_dict(**changes), "model.onnx")
    assert message in str(err.value) and str(err.value).startswith("model.onnx: ") and "\n" not in str(err.value)


def test_a_config_that_is_not_an_object_is_refused() -> None:
    for data in ([1, 2], "text", None):
        with pytest.raises(UserError, match="must be a JSON object"):
            parse_config(data, "config.json")


def format_1(**changes: object) -> dict:
    doc = config_dict(format_version=1, layers=[1, 2, 3], resize=224, input_size=224)
    for key in ("input_height", "input_width", "pooling"):
        doc.pop(key)
    return {**doc, **changes}


def test_format_1_becomes_crop_mode_when_it_meant_the_same() -> None:
    config = parse_config(format_1(), "old.onnx")
    assert config.layers == ["blocks.2", "blocks.4", "blocks.10"]
    assert (config.input_hw, config.resize_mode, config.format_version) == ((224, 224), "crop", 2)


def test_format_1_with_the_paper_crop_is_refused_in_one_line() -> None:
    with pytest.raises(UserError, match="resized to 256 and cropped 224.*refit"):
        parse_config(format_1(resize=256), "old.onnx")


def test_metadata_carries_the_new_fields(cells_run: Path, cells_model: Path) -> None:
    """What fit decided (rectangular input, resize mode, taps) reaches the exported model unchanged."""
    run = parse_config(json.loads((cells_run / "config.json").read_text()), "run")
    info = read_onnx_metadata(cells_model)
    assert info.config == run
    assert info.input_hw == (128, 256) and info.config.resize_mode == "stretch"
    assert len(info.export.graph_sha256) == 64 and info.export.statistics_dtype == "float32"
    assert parse_metadata(info.to_json(), "again") == info


def test_graph_io_is_checked_against_the_metadata(cells_model: Path) -> None:
    info = read_onnx_metadata(cells_model)
    model = onnx.load(str(cells_model), load_external_data=False)

    def io(values: list) -> list:
        return [
            (
                v.name,
                onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
                [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim],
            )
            for v in values
        ]

    inputs, outputs = io(model.graph.input), io(model.graph.output)
    check_io(info, inputs, outputs, "m")
    for bad_inputs in ([("frames", "float32", ["N", 128, 256, 3])], [("frames", "uint8", ["N", 256, 128, 3])]):
        with pytest.raises(UserError, match="graph input .* do not match its metadata"):
            check_io(info, bad_inputs, outputs, "m")
    with pytest.raises(UserError, match="graph outputs"):
        check_io(info, inputs, outputs[:1], "m")


def test_export_facts_are_validated() -> None:
    config = ModelConfig.model_validate(config_dict())
    doc = ModelInfo(config, ExportFacts(opset=17)).document()
    doc["export"]["statistics_dtype"] = "int4"
    with pytest.raises(UserError, match="export facts.*statistics_dtype"):
        parse_metadata(json.dumps(doc), "m.onnx")
