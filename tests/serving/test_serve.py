"""`padim-edge serve` (a real Triton server through PyTriton) and `run --server` against it, over gRPC and HTTP."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from procs import Serve
from typer.testing import CliRunner

from padim_edge.cli import app
from padim_edge.contract.wire import PARAMETER_KEY
from padim_edge.errors import UserError
from padim_edge.runtime.backends import open_backend
from padim_edge.runtime.backends.triton import TritonBackend


def _run(server_args: list[str], images: list[Path], tmp_path: Path, tag: str) -> tuple[dict, list[dict]]:
    folder = tmp_path / tag
    folder.mkdir()
    for image in images:
        (folder / image.name).symlink_to(image)
    results, summary = tmp_path / f"{tag}.jsonl", tmp_path / f"{tag}.json"
    args = ["run", *server_args, "--source", str(folder), "--batch", "4", "--results", str(results)]
    done = CliRunner().invoke(app, [*args, "--summary-json", str(summary)])
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    return json.loads(summary.read_text()), lines


def test_run_on_the_server_scores_as_in_process(
    server: Serve, tiny_onnx: Path, elpv_images: list[Path], tmp_path: Path
):
    local, local_lines = _run(["--model", str(tiny_onnx)], elpv_images, tmp_path, "local")
    for url in (server.grpc, server.http):
        summary, lines = _run(["--server", url, "--model-name", server.name], elpv_images, tmp_path, url[:4])
        assert summary["frames"] == len(elpv_images) and summary["missed"] == 0
        assert summary["threshold"] == local["threshold"]  # read from the server's model config
        assert summary["backend"].startswith("Triton")
        assert [line["verdict"] for line in lines] == [line["verdict"] for line in local_lines]
        np.testing.assert_allclose([x["score"] for x in lines], [x["score"] for x in local_lines], rtol=1e-4)


def test_the_served_config_carries_the_metadata(server: Serve, tiny_onnx: Path):
    backend = TritonBackend(server.http, server.name)
    expected = open_backend(tiny_onnx).info
    assert backend.info.config == expected.config and backend.max_batch == 8
    import tritonclient.grpc as grpc

    config = grpc.InferenceServerClient(server.grpc.removeprefix("grpc://")).get_model_config(server.name).config
    assert json.loads(config.parameters[PARAMETER_KEY].string_value)["threshold"] == expected.threshold
    assert [tuple(i.dims) for i in config.input] == [(64, 96, 3)] and config.max_batch_size == 8


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_bad_requests_get_tritons_error_and_the_server_lives_on(server: Serve, protocol: str):
    import tritonclient.grpc as grpc
    import tritonclient.http as http
    from tritonclient.utils import InferenceServerException

    module = http if protocol == "http" else grpc
    client = module.InferenceServerClient(getattr(server, protocol).split("://")[1])

    def infer(frames: np.ndarray, datatype: str = "UINT8", model: str = server.name) -> np.ndarray:
        data = module.InferInput("frames", list(frames.shape), datatype)
        data.set_data_from_numpy(frames)
        return client.infer(model, [data]).as_numpy("score")

    good = np.zeros((2, 64, 96, 3), np.uint8)
    cases = {
        "data-type is 'FP32'": (good.astype(np.float32), "FP32", server.name),
        "unexpected shape": (np.zeros((2, 32, 64, 3), np.uint8), "UINT8", server.name),
        "batch-size must be <= 8": (np.zeros((9, 64, 96, 3), np.uint8), "UINT8", server.name),
        "unknown model": (good, "UINT8", "no-such-model"),
    }
    for message, (frames, datatype, model) in cases.items():
        with pytest.raises(InferenceServerException, match=message):
            infer(frames, datatype, model)
    assert infer(good).shape == (2, 1)
    assert client.is_server_live()


def test_metrics_count_requests_and_batches(server: Serve):
    TritonBackend(server.grpc, server.name).infer(np.zeros((3, 64, 96, 3), np.uint8))
    text = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    counts = {
        line.split("{")[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(("nv_inference_count{", "nv_inference_exec_count{")) and f'model="{server.name}"' in line
    }
    assert counts["nv_inference_count"] >= counts["nv_inference_exec_count"] > 0


def test_a_refusal_while_the_model_is_ready_is_retried_once(server: Serve):
    """A request that reached a restarting server before its model loaded failed; the model is ready by the
    time the client asks, so the request is sent once more. A request refused twice is the user's error."""
    backend = TritonBackend(server.grpc, server.name)
    good, calls = np.zeros((2, 64, 96, 3), np.uint8), []

    def first_to_a_model_not_loaded(client: object) -> object:
        import tritonclient.grpc as grpc

        calls.append(client)
        model = "not-loaded-yet" if len(calls) == 1 else server.name
        data = grpc.InferInput("frames", list(good.shape), "UINT8")
        data.set_data_from_numpy(good)
        return client.infer(model, [data])

    assert backend._call(first_to_a_model_not_loaded).as_numpy("score").shape == (2, 1)
    assert len(calls) == 2 and backend.backoff.failures == 0
    with pytest.raises(UserError, match="unexpected shape"):
        backend.infer(np.zeros((2, 32, 64, 3), np.uint8))
