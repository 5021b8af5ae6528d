"""Bad input for every command, in-process: a user error is one `error:` line and exit code 2, never a
traceback nor a hang (each case runs under a time limit). Files are real: damaged copies of real ELPV cell
frames, a real fitted run and its exported model, tampered with."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from bad_files import bad_crc, header_bomb, sparse_file, truncated
from cli_runner import run_cli
from onnx import TensorProto
from safetensors.numpy import load_file
from tamper import (
    edited,
    escaping_external_data,
    foreign_graph,
    metadata_of,
    run_copy,
    save,
    with_mean,
    with_metadata,
)

from padim_edge.contract.engine_record import EngineRecord, Machine
from padim_edge.engine.record_file import write_record
from padim_edge.imaging.decode import MAX_FILE_BYTES


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory, cells_model: Path, cells_run: Path, cells_root: Path):
    """Everything the cases point at, made once."""
    root = tmp_path_factory.mktemp("bad")
    good = cells_root / "cells" / "test" / "good" / "000.png"
    config = json.loads((cells_run / "config.json").read_text())
    stats = load_file(str(cells_run / "statistics.safetensors"))
    model = onnx.load(str(cells_model))
    meta = metadata_of(model)
    ns = SimpleNamespace(root=root, model=cells_model, run=cells_run, data=cells_root, good=good)
    ns.file = root / "a-file.txt"
    ns.file.write_text("not a folder\n")
    ns.empty = root / "empty"
    ns.empty.mkdir()
    ns.truncated = truncated(good, root / "truncated.png")
    ns.bad_crc = bad_crc(good, root / "bad-crc.png")
    ns.bomb = header_bomb(root / "bomb.png")
    ns.sparse = sparse_file(root / "huge.png", MAX_FILE_BYTES + 1)
    ns.zero = root / "zero.png"
    ns.zero.write_bytes(b"")
    ns.text_jpg = root / "text.jpg"
    ns.text_jpg.write_text("hello")
    ns.not_video = root / "clip.mp4"
    ns.not_video.write_text("not a video")
    ns.corrupt_folder = root / "corrupt"
    ns.corrupt_folder.mkdir()
    truncated(good, ns.corrupt_folder / "a.png")
    (root / "junk" / "c" / "good").mkdir(parents=True)
    for i in range(3):
        (root / "junk" / "c" / "good" / f"{i}.png").write_bytes(b"junk")
    one = root / "one" / "c" / "good"
    one.mkdir(parents=True)
    (one / "0.png").write_bytes(good.read_bytes())
    only_good = root / "only-good" / "cells"
    (only_good / "test" / "good").mkdir(parents=True)
    (only_good / "good").mkdir()
    for i in range(2):
        (only_good / "good" / f"{i}.png").write_bytes(good.read_bytes())
        (only_good / "test" / "good" / f"{i}.png").write_bytes(good.read_bytes())

    runs = root / "runs"
    mean, factor = stats["mean"], stats["factor"]
    small = {"mean": mean[:2], "factor": factor[:2]}
    ns.runs = {
        "list": run_copy(cells_run, runs / "list", [config]),
        "bad-json": run_copy(cells_run, runs / "bad-json"),
        "height-str": run_copy(cells_run, runs / "height-str", edited(config, input_height="128")),
        "height-neg": run_copy(cells_run, runs / "height-neg", edited(config, input_height=-5)),
        "threshold-str": run_copy(cells_run, runs / "threshold-str", edited(config, threshold="high")),
        "layers": run_copy(cells_run, runs / "layers", edited(config, layers=["blocks.2", "blocks.99"])),
        "channels": run_copy(
            cells_run, runs / "channels", edited(config, channel_indices=[*config["channel_indices"][:-1], 9999])
        ),
        "d": run_copy(cells_run, runs / "d", edited(config, d=7)),
        "version": run_copy(cells_run, runs / "version", edited(config, format_version=7)),
        "format-1": run_copy(
            cells_run, runs / "format-1", edited(config, format_version=1, resize=0, input_size=128, layers=[1, 2, 3])
        ),
        "backbone": run_copy(cells_run, runs / "backbone", edited(config, backbone="vgg16")),
        "truncated": run_copy(
            cells_run, runs / "truncated", statistics=(cells_run / "statistics.safetensors").read_bytes()[:4096]
        ),
        "names": run_copy(cells_run, runs / "names", statistics={"mu": small["mean"], "w": small["factor"]}),
        "shapes": run_copy(
            cells_run, runs / "shapes", statistics={"mean": small["mean"][:, :5], "factor": small["factor"]}
        ),
        "nan": run_copy(
            cells_run, runs / "nan", statistics={"mean": np.full_like(small["mean"], np.nan), "factor": small["factor"]}
        ),
        "checksum": run_copy(cells_run, runs / "checksum", statistics=small),
    }
    (ns.runs["bad-json"] / "config.json").write_text("{ not json")
    ns.only_good_root = only_good.parent
    ns.junk_root = root / "junk"
    ns.one_root = root / "one"

    models = root / "models"
    tiny = foreign_graph(128, 256)
    ns.models = {
        "text": models / "text.onnx",
        "no-meta": save(with_metadata(tiny, None), models / "no-meta.onnx"),
        "meta-json": save(with_metadata(tiny, "{"), models / "meta-json.onnx"),
        "meta-list": save(with_metadata(tiny, "[1, 2]"), models / "meta-list.onnx"),
        "height-str": save(with_metadata(tiny, edited(meta, input_height="128")), models / "height-str.onnx"),
        "height-neg": save(with_metadata(tiny, edited(meta, input_height=-1)), models / "height-neg.onnx"),
        "threshold-str": save(with_metadata(tiny, edited(meta, threshold="high")), models / "threshold-str.onnx"),
        "threshold-neg": save(with_metadata(tiny, edited(meta, threshold=-3.0)), models / "threshold-neg.onnx"),
        "version": save(with_metadata(tiny, edited(meta, format_version=9)), models / "version.onnx"),
        "layers": save(with_metadata(tiny, edited(meta, layers=["blocks.99"])), models / "layers.onnx"),
        "opset": save(
            with_metadata(tiny, edited(meta, export={**meta["export"], "opset": "17"})), models / "opset.onnx"
        ),
        "foreign-digest": save(with_metadata(tiny, meta), models / "foreign-digest.onnx"),
        "foreign-dtype": save(with_metadata(tiny, _undigested(meta)), models / "foreign-dtype.onnx"),
        "foreign-shape": save(
            with_metadata(foreign_graph(64, 64, TensorProto.UINT8), _undigested(meta)), models / "foreign-shape.onnx"
        ),
        "nan": save(
            with_mean(model, lambda m: np.where(np.arange(m.size).reshape(m.shape) == 7, np.nan, m)),
            models / "nan.onnx",
        ),
        "traversal": save(escaping_external_data(with_metadata(tiny, meta)), models / "traversal.onnx"),
        "swapped": save(
            with_metadata(model, metadata_of(with_mean(model, lambda m: m + 0.5))), models / "swapped.onnx"
        ),
        "txt": models / "model.txt",
        "engine": models / "model.engine",
        "engine-norecord": models / "bare.engine",
    }
    ns.models["text"].write_text("not a model")
    ns.models["txt"].write_text("x")
    ns.models["engine-norecord"].write_bytes(b"engine")
    ns.models["engine"].write_bytes(b"\0" * 64)
    write_record(
        ns.models["engine"],
        EngineRecord(
            machine=Machine(tensorrt="10.3.0", gpu="Orin", compute_capability="8.7"),
            precision="fp16",
            input_name="frames",
            profile={k: [1, 128, 256, 3] for k in ("min", "opt", "max")},
            onnx_path=str(cells_model),
            onnx_sha256="ab" * 32,
            onnx_metadata=meta,
            engine_bytes=64,
            engine_sha256="cd" * 32,
        ),
    )
    return ns


def _undigested(meta: dict) -> dict:
    """Valid metadata of a model exported before graph digests: the graph can only be checked by its I/O."""
    return edited(meta, export={**meta["export"], "graph_sha256": ""})


@dataclass
class Case:
    """A bad invocation: its arguments (from the workspace), what the error line must say, and the
    environment it runs in."""

    id: str
    args: Callable[[SimpleNamespace], list]
    says: str
    env: dict[str, str] = field(default_factory=dict)


def _model(kind: str) -> Callable[[SimpleNamespace], list]:
    return lambda w: ["info", w.models[kind]]


M = "--model"
CASES = [
    # --- the command line itself
    Case("no-such-command", lambda w: ["inspect"], "No such command"),
    Case("unknown-flag", lambda w: ["info", w.model, "--verbose"], "--verbose"),
    Case("missing-option", lambda w: ["run", M, w.model], "--source"),
    # --- fit: every flag and path checked before an image is read
    Case("fit-no-category", lambda w: ["fit"], "--category"),
    Case("fit-seed", lambda w: ["fit", "--category", "c", "--seed", "-1"], "--seed"),
    Case("fit-batch-zero", lambda w: ["fit", "--category", "c", "--batch-size", "0"], "--batch-size"),
    Case("fit-batch-huge", lambda w: ["fit", "--category", "c", "--batch-size", "100000"], "--batch-size"),
    Case("fit-d-zero", lambda w: ["fit", "--category", "c", "-d", "0"], "-d"),
    Case("fit-pooling", lambda w: ["fit", "--category", "c", "--pooling", "10"], "--pooling"),
    Case("fit-channels", lambda w: ["fit", "--category", "c", "--channels", "best"], "--channels best"),
    Case("fit-limit", lambda w: ["fit", "--category", "c", "--limit", "1"], "--limit"),
    Case("fit-prior-weight", lambda w: ["fit", "--category", "c", "--prior-weight", "-1"], "--prior-weight"),
    Case(
        "fit-select-settings",
        lambda w: ["fit", "--category", "c", "--select", "--layers", "blocks.4", "--cov-block", "2"],
        "--select chooses --layers, --cov-block itself",
    ),
    Case("fit-select-update", lambda w: ["fit", "--update", w.root, "--select"], "--select cannot change in an update"),
    Case("fit-preset-unknown", lambda w: ["fit", "--category", "c", "--preset", "fabric"], "--preset fabric: unknown"),
    Case(
        "fit-preset-clash",
        lambda w: ["fit", "--category", "c", "--preset", "texture", "--pooling", "1", "--eps", "2"],
        "--preset texture sets --pooling itself",
    ),
    Case("fit-preset-select", lambda w: ["fit", "--category", "c", "--preset", "tiles-4", "--select"], "--select"),
    Case("fit-preset-update", lambda w: ["fit", "--update", w.root, "--preset", "texture"], "--preset cannot change"),
    Case("fit-input-size-text", lambda w: ["fit", "--category", "c", "--input-size", "big"], "--input-size big"),
    Case("fit-input-size-small", lambda w: ["fit", "--category", "c", "--input-size", "8x8"], "--input-size 8x8"),
    Case("fit-input-size-huge", lambda w: ["fit", "--category", "c", "--input-size", "99999"], "--input-size"),
    Case("fit-resize-mode", lambda w: ["fit", "--category", "c", "--resize-mode", "warp"], "--resize-mode warp"),
    Case("fit-holdout", lambda w: ["fit", "--category", "c", "--holdout", "1.5", "--out", w.root / "o1"], "--holdout"),
    Case(
        "fit-quantile",
        lambda w: ["fit", "--category", "c", "--threshold-quantile", "0", "--out", w.root / "o2"],
        "--threshold-quantile",
    ),
    Case("fit-out-is-file", lambda w: ["fit", "--category", "c", "--out", w.file], "--out"),
    Case("fit-out-parent-file", lambda w: ["fit", "--category", "c", "--out", w.file / "run"], "not a folder"),
    Case("fit-layers-empty", lambda w: ["fit", "--category", "c", "--layers", ",", "--out", w.root / "o3"], "--layers"),
    Case(
        "fit-root-missing",
        lambda w: [
            "fit",
            "--dataset",
            "folder",
            "--data-root",
            w.root / "nowhere",
            "--category",
            "c",
            "--out",
            w.root / "o4",
        ],
        "nowhere",
    ),
    Case(
        "fit-category-missing",
        lambda w: ["fit", "--dataset", "folder", "--data-root", w.data, "--category", "nope", "--out", w.root / "o5"],
        "nope",
    ),
    Case(
        "fit-dataset-kind", lambda w: ["fit", "--dataset", "video", "--category", "c", "--out", w.root / "o6"], "video"
    ),
    Case(
        "fit-elpv-category",
        lambda w: ["fit", "--dataset", "elpv", "--category", "amorphous", "--out", w.root / "o7"],
        "mono",
    ),
    Case(
        "fit-one-image",
        lambda w: ["fit", "--dataset", "folder", "--data-root", w.one_root, "--category", "c", "--out", w.root / "o8"],
        "at least 2",
    ),
    Case(
        "fit-all-unreadable",
        lambda w: ["fit", "--dataset", "folder", "--data-root", w.junk_root, "--category", "c", "--out", w.root / "o9"],
        "no readable training images",
    ),
    Case(
        "fit-unknown-layer",
        lambda w: [
            "fit",
            "--dataset",
            "folder",
            "--data-root",
            w.data,
            "--category",
            "cells",
            "--layers",
            "blocks.99",
            "--out",
            w.root / "o10",
        ],
        "blocks.99",
    ),
    Case(
        "fit-unknown-backbone",
        lambda w: [
            "fit",
            "--dataset",
            "folder",
            "--data-root",
            w.data,
            "--category",
            "cells",
            "--backbone",
            "vgg16",
            "--out",
            w.root / "o11",
        ],
        "vgg16",
    ),
    Case(
        "fit-d-too-large",
        lambda w: [
            "fit",
            "--dataset",
            "folder",
            "--data-root",
            w.data,
            "--category",
            "cells",
            "-d",
            "100000",
            "--out",
            w.root / "o12",
        ],
        "-d 100000",
    ),
    Case(
        "fit-weights-missing",
        lambda w: [
            "fit",
            "--dataset",
            "folder",
            "--data-root",
            w.data,
            "--category",
            "cells",
            "--weights",
            w.root / "none.pth",
            "--out",
            w.root / "o13",
        ],
        "none.pth",
    ),
    Case(
        "fit-max-pixels-env",
        lambda w: ["fit", "--category", "c"],
        "PADIM_EDGE_MAX_PIXELS",
        {"PADIM_EDGE_MAX_PIXELS": "lots"},
    ),
    # --- eval
    Case("eval-missing-run", lambda w: ["eval", w.root / "no-run"], "not a fitted run"),
    Case("eval-config-list", lambda w: ["eval", w.runs["list"]], "JSON object"),
    Case("eval-config-bad-json", lambda w: ["eval", w.runs["bad-json"]], "invalid JSON"),
    Case("eval-limit", lambda w: ["eval", w.run, "--limit", "1"], "--limit"),
    Case("eval-height-str", lambda w: ["eval", w.runs["height-str"]], "input_height"),
    Case("eval-report-dir-file", lambda w: ["eval", w.runs["checksum"], "--report-dir", w.file], "--report-dir"),
    Case(
        "eval-json-dir",
        lambda w: ["eval", w.runs["checksum"], "--report-dir", w.root / "rep", "--json", w.empty],
        "--json",
    ),
    Case(
        "eval-json-parent-file",
        lambda w: ["eval", w.runs["checksum"], "--report-dir", w.root / "rep", "--json", w.file / "m.json"],
        "--json",
    ),
    Case(
        "eval-data-root",
        lambda w: ["eval", w.runs["checksum"], "--report-dir", w.root / "rep", "--data-root", w.root / "nowhere"],
        "nowhere",
    ),
    Case(
        "eval-one-label",
        lambda w: ["eval", w.runs["checksum"], "--report-dir", w.root / "rep", "--data-root", w.only_good_root],
        "both good and defective",
    ),
    Case("eval-checksum", lambda w: ["eval", w.runs["checksum"], "--report-dir", w.root / "rep"], "checksum"),
    # --- export: the run is read and checked before any graph is built
    Case("export-nothing", lambda w: ["export"], "RUN_DIR or --category"),
    Case("export-not-fitted", lambda w: ["export", w.empty], "not a fitted run"),
    Case("export-out-folder", lambda w: ["export", w.run, "--out", w.empty], "--out"),
    Case("export-out-parent-file", lambda w: ["export", w.run, "--out", w.file / "m.onnx"], "--out"),
    Case("export-calib-images", lambda w: ["export", w.run, "--int8", "--calib-images", "0"], "--calib-images"),
    Case("export-height-str", lambda w: ["export", w.runs["height-str"]], "input_height"),
    Case("export-height-neg", lambda w: ["export", w.runs["height-neg"]], "input_height"),
    Case("export-threshold-str", lambda w: ["export", w.runs["threshold-str"]], "threshold"),
    Case("export-layers", lambda w: ["export", w.runs["layers"]], "blocks.99"),
    Case("export-channels", lambda w: ["export", w.runs["channels"]], "channel_indices"),
    Case("export-d", lambda w: ["export", w.runs["d"]], "d: 7"),
    Case("export-version", lambda w: ["export", w.runs["version"]], "format version 7"),
    Case("export-backbone", lambda w: ["export", w.runs["backbone"]], "vgg16"),
    Case("export-format-1-resize", lambda w: ["export", w.runs["format-1"]], "format 1"),
    Case("export-config-list", lambda w: ["export", w.runs["list"]], "JSON object"),
    Case("export-truncated-statistics", lambda w: ["export", w.runs["truncated"]], "statistics.safetensors"),
    Case("export-statistics-names", lambda w: ["export", w.runs["names"]], "expected tensors mean and factor"),
    Case("export-statistics-shapes", lambda w: ["export", w.runs["shapes"]], "statistics shaped"),
    Case("export-statistics-nan", lambda w: ["export", w.runs["nan"]], "NaN"),
    Case("export-statistics-checksum", lambda w: ["export", w.runs["checksum"]], "checksum"),
    # --- verify
    Case("verify-missing-run", lambda w: ["verify", w.root / "no-run"], "not a fitted run"),
    Case("verify-images", lambda w: ["verify", w.run, "--images", "1"], "--images"),
    Case("verify-tolerance", lambda w: ["verify", w.run, "--tolerance", "-1"], "--tolerance"),
    Case("verify-nan", lambda w: ["verify", w.runs["nan"]], "NaN"),
    # --- info: the model is checked before anything is printed
    Case("info-missing", lambda w: ["info", w.root / "none.onnx"], "no such model file"),
    Case("info-suffix", _model("txt"), "unknown model type"),
    Case("info-not-onnx", _model("text"), "not an ONNX model"),
    Case("info-no-metadata", _model("no-meta"), "no padim-edge metadata"),
    Case("info-metadata-json", _model("meta-json"), "not valid JSON"),
    Case("info-metadata-list", _model("meta-list"), "not a JSON object"),
    Case("info-height-str", _model("height-str"), "input_height"),
    Case("info-height-neg", _model("height-neg"), "input_height"),
    Case("info-threshold-str", _model("threshold-str"), "threshold"),
    Case("info-threshold-neg", _model("threshold-neg"), "threshold"),
    Case("info-version", _model("version"), "format version 9"),
    Case("info-layers", _model("layers"), "blocks.99"),
    Case("info-export-facts", _model("opset"), "opset"),
    Case("info-foreign-graph", _model("foreign-digest"), "digest"),
    Case("info-foreign-dtype", _model("foreign-dtype"), "do not match its metadata"),
    Case("info-foreign-shape", _model("foreign-shape"), "do not match its metadata"),
    Case("info-nan", _model("nan"), "head.mean holds NaN"),
    Case("info-swapped-metadata", _model("swapped"), "digest"),
    Case("info-external-data-traversal", _model("traversal"), "outside the model's folder"),
    Case("info-engine-no-record", _model("engine-norecord"), "no engine record"),
    Case("info-engine-no-tensorrt", _model("engine"), "TensorRT"),
    # --- predict
    Case("predict-no-model", lambda w: ["predict", M, w.root / "none.onnx", w.good], "no such model file"),
    Case("predict-threads-zero", lambda w: ["predict", M, w.model, "--threads", "0", w.good], "--threads"),
    Case("predict-threads-huge", lambda w: ["predict", M, w.model, "--threads", "100000", w.good], "--threads"),
    Case("predict-batch-huge", lambda w: ["predict", M, w.model, "--batch", "100000", w.good], "--batch"),
    Case("predict-threshold-neg", lambda w: ["predict", M, w.model, "--threshold", "-1", w.good], "--threshold"),
    Case("predict-threshold-nan", lambda w: ["predict", M, w.model, "--threshold", "nan", w.good], "--threshold"),
    Case("predict-overlay-file", lambda w: ["predict", M, w.model, "--overlay-dir", w.file, w.good], "--overlay-dir"),
    Case(
        "predict-overlay-parent-file",
        lambda w: ["predict", M, w.model, "--overlay-dir", w.file / "ov", w.good],
        "--overlay-dir",
    ),
    Case("predict-missing-input", lambda w: ["predict", M, w.model, w.root / "none.png"], "none.png: no such file"),
    Case("predict-empty-folder", lambda w: ["predict", M, w.model, w.empty], "no images in this folder"),
    Case("predict-truncated", lambda w: ["predict", M, w.model, w.truncated], "truncated.png: not a readable image"),
    Case(
        "predict-bad-crc", lambda w: ["predict", M, w.model, "--json", w.bad_crc], "bad-crc.png: not a readable image"
    ),
    Case("predict-header-bomb", lambda w: ["predict", M, w.model, w.bomb], "20000x20000"),
    Case("predict-huge-file", lambda w: ["predict", M, w.model, w.sparse], "limit for one image"),
    Case("predict-empty-file", lambda w: ["predict", M, w.model, w.zero], "empty file"),
    Case("predict-text-as-jpg", lambda w: ["predict", M, w.model, w.text_jpg], "text.jpg: not a readable image"),
    Case(
        "predict-pixel-limit-env",
        lambda w: ["predict", M, w.model, w.good],
        "over the limit of 0.1 MP",
        {"PADIM_EDGE_MAX_PIXELS": "100000"},
    ),
    Case("predict-nan-model", lambda w: ["predict", M, w.models["nan"], w.good], "NaN"),
    Case("predict-swapped-metadata", lambda w: ["predict", M, w.models["swapped"], w.good], "digest"),
    Case("predict-model-threshold", lambda w: ["predict", M, w.models["threshold-str"], w.good], "threshold-str.onnx"),
    # --- run
    Case(
        "run-no-source",
        lambda w: ["run", M, w.model, "--source", w.root / "none.mp4"],
        "no such file, folder, device or URL",
    ),
    Case("run-glob", lambda w: ["run", M, w.model, "--source", str(w.root / "*.nothing.png")], "no images found"),
    Case("run-not-video", lambda w: ["run", M, w.model, "--source", w.not_video], "cannot open this video"),
    Case(
        "run-refused-url",
        lambda w: ["run", M, w.model, "--source", "http://127.0.0.1:9/none.mjpg"],
        "cannot open this source",
        {"PADIM_EDGE_NETWORK_TIMEOUT_S": "2"},
    ),
    Case(
        "run-refused-rtsp",
        lambda w: ["run", M, w.model, "--source", "rtsp://127.0.0.1:9/cam"],
        "cannot open this source",
    ),
    Case(
        "run-silent-udp",
        lambda w: ["run", M, w.model, "--source", "udp://127.0.0.1:9"],
        "cannot open",
        {"PADIM_EDGE_NETWORK_TIMEOUT_S": "1"},
    ),
    Case("run-no-camera", lambda w: ["run", M, w.model, "--source", "9"], "9: OpenCV cannot open this source"),
    Case("run-no-device", lambda w: ["run", M, w.model, "--source", "/dev/video9"], "/dev/video9"),
    Case("run-gstreamer", lambda w: ["run", M, w.model, "--source", "videotestsrc ! appsink"], "GStreamer"),
    Case("run-results-folder", lambda w: ["run", M, w.model, "--source", w.good, "--results", w.empty], "--results"),
    Case("run-save-ng-file", lambda w: ["run", M, w.model, "--source", w.good, "--save-ng", w.file], "--save-ng"),
    Case(
        "run-video-folder",
        lambda w: ["run", M, w.model, "--source", w.good, "--overlay-video", w.empty],
        "--overlay-video",
    ),
    Case(
        "run-summary-parent-file",
        lambda w: ["run", M, w.model, "--source", w.good, "--summary-json", w.file / "s.json"],
        "--summary-json",
    ),
    Case("run-max-retries", lambda w: ["run", M, w.model, "--source", w.good, "--max-retries", "-2"], "--max-retries"),
    Case("run-max-frames", lambda w: ["run", M, w.model, "--source", w.good, "--max-frames", "0"], "--max-frames"),
    Case("run-threads", lambda w: ["run", M, w.model, "--source", w.good, "--threads", "-1"], "--threads"),
    Case(
        "run-provider",
        lambda w: ["run", M, w.model, "--source", w.good, "--provider", "NoSuchProvider"],
        "NoSuchProvider",
    ),
    Case(
        "run-backoff-env",
        lambda w: ["run", M, w.model, "--source", w.good],
        "PADIM_EDGE_BACKOFF_S",
        {"PADIM_EDGE_BACKOFF_S": "0"},
    ),
    Case(
        "run-timeout-env",
        lambda w: ["run", M, w.model, "--source", w.good],
        "PADIM_EDGE_NETWORK_TIMEOUT_S",
        {"PADIM_EDGE_NETWORK_TIMEOUT_S": "inf"},
    ),
    Case("run-all-corrupt", lambda w: ["run", M, w.model, "--source", w.corrupt_folder], "a.png: not a readable image"),
    Case("run-foreign-model", lambda w: ["run", M, w.models["foreign-dtype"], "--source", w.good], "do not match"),
    # --- build (TensorRT is absent on the machines that run these; options are checked first)
    Case("build-missing", lambda w: ["build", w.root / "none.onnx", "--print-trtexec"], "no such ONNX model"),
    Case("build-precision", lambda w: ["build", w.model, "--precision", "fp8"], "--precision fp8"),
    Case("build-batch-zero", lambda w: ["build", w.model, "--batch", "0,1,2"], "--batch"),
    Case("build-batch-order", lambda w: ["build", w.model, "--batch", "4,2,8"], "--batch"),
    Case("build-workspace", lambda w: ["build", w.model, "--workspace", "0"], "--workspace"),
    Case("build-dla", lambda w: ["build", w.model, "--dla", "-1"], "--dla"),
    Case("build-dla-fp32", lambda w: ["build", w.model, "--precision", "fp32", "--dla", "0"], "no fp32"),
    Case("build-int8-uncalibrated", lambda w: ["build", w.model, "--precision", "int8"], "--calib"),
    Case("build-out-folder", lambda w: ["build", w.model, "--out", w.empty], "--out"),
    Case(
        "build-timing-cache-parent-file",
        lambda w: ["build", w.model, "--out", w.root / "m.engine", "--timing-cache", w.file / "t"],
        "--timing-cache",
    ),
    Case("build-foreign", lambda w: ["build", w.models["no-meta"], "--print-trtexec"], "no padim-edge metadata"),
    Case("build-not-onnx", lambda w: ["build", w.models["text"], "--print-trtexec"], "not an ONNX model"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_user_error_is_one_line(case: Case, w: SimpleNamespace, capfd, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    outcome = run_cli(capfd, *case.args(w), limit_s=60)
    assert "Traceback" not in outcome.err + outcome.out
    assert outcome.code == 2, outcome.err
    assert len(outcome.errors) == 1, outcome.err
    assert case.says in outcome.errors[0], outcome.err
    first = outcome.err.splitlines()[0]
    assert first.startswith(("error:", "warning:")), f"a line before ours: {first!r}"


def test_corpus_covers_every_command() -> None:
    commands = {"fit", "eval", "export", "verify", "info", "predict", "run", "build"}
    assert len(CASES) >= 60 and commands <= {c.id.split("-")[0] for c in CASES}


def test_model_threshold_is_reported_as_the_models(w: SimpleNamespace, capfd) -> None:
    outcome = run_cli(capfd, "predict", "--model", w.models["threshold-neg"], w.good)
    assert outcome.code == 2 and "threshold-neg.onnx" in outcome.errors[0] and "--threshold" not in outcome.err


def test_json_stays_valid_when_a_score_is_not_finite() -> None:
    from padim_edge.runtime.predictor import Predictor
    from padim_edge.runtime.results import FrameResult
    from padim_edge.runtime.sources import Frame

    judge = Predictor.judge.__get__(SimpleNamespace(threshold=10.0))
    for score in (math.nan, math.inf, -math.inf):
        normalized, verdict = judge(score)
        assert verdict == "NG" and normalized is None
        result = FrameResult(Frame(0, math.nan, 0.0, 0.0, None, "x.png"), score=score, verdict=verdict)
        line = json.dumps(result.as_json(), allow_nan=False)
        assert json.loads(line)["score"] is None and "error" in json.loads(line)


def test_ffmpeg_stays_quiet_when_a_video_was_opened_before_the_runtime(tmp_path: Path) -> None:
    """OpenCV reads FFmpeg's log level once, at its first FFmpeg use in the process: importing padim_edge
    sets it, so a video written before the runtime is imported (a user's script, another test) cannot let
    FFmpeg's own complaint about a broken file print ahead of padim-edge's line."""
    import subprocess
    import sys

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    script = f"""
import cv2, numpy as np
import padim_edge
writer = cv2.VideoWriter({str(tmp_path / "first.avi")!r}, cv2.VideoWriter_fourcc(*"FFV1"), 5.0, (64, 48))
writer.write(np.zeros((48, 64, 3), np.uint8)); writer.release()
from padim_edge.runtime import sources
assert not cv2.VideoCapture({str(broken)!r}, cv2.CAP_FFMPEG).isOpened()
"""
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
