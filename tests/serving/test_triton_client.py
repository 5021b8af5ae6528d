"""The Triton client's parts that need no server: URLs, backoff, unreachable servers, and the pipeline
counting frames a backend could not score as missed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from padim_edge.cli import app, main
from padim_edge.errors import UserError
from padim_edge.runtime.backends import Backend, open_backend
from padim_edge.runtime.backends.base import BackendUnavailable
from padim_edge.runtime.backends.triton import open_triton, split_url
from padim_edge.runtime.backoff import Backoff
from padim_edge.runtime.pipeline import Pipeline, PipelineOptions
from padim_edge.runtime.predictor import Predictor
from padim_edge.runtime.sources import open_source
from padim_edge.sinks.base import Outputs
from padim_edge.sinks.text import JsonLines
from padim_edge.sinks.video import OverlayVideo


def test_split_url():
    assert split_url("grpc://127.0.0.1:8001") == ("grpc", "127.0.0.1:8001")
    assert split_url("http://server:8000/") == ("http", "server:8000")
    assert split_url("127.0.0.1:8001") == ("grpc", "127.0.0.1:8001")
    for bad in ("https://a:1", "grpc://host", "http://a:1/v2/models", "grpc://a:port"):
        with pytest.raises(UserError, match="expected grpc://HOST:PORT"):
            split_url(bad)


def test_backoff_doubles_to_a_cap_and_resets():
    now = [0.0]
    backoff = Backoff(first_s=0.25, max_s=1.0, clock=lambda: now[0])
    assert backoff.ready()
    delays = []
    for _ in range(5):
        backoff.failed()
        delays.append(backoff.wait_s())
        assert not backoff.ready()
    assert delays == [0.25, 0.5, 1.0, 1.0, 1.0]
    now[0] += 1.0
    assert backoff.ready()
    backoff.succeeded()
    backoff.failed()
    assert backoff.wait_s() == 0.25


def test_unreachable_server_is_one_line_and_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    started = time.perf_counter()
    code = main(["run", "--server", "grpc://127.0.0.1:9", "--model-name", "m", "--source", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: grpc://127.0.0.1:9: server unreachable")
    assert "--retry" in err and len(err.strip().splitlines()) == 1
    assert time.perf_counter() - started < 30  # the connection fails at once
    started = time.perf_counter()
    with pytest.raises(UserError, match="after waiting 1 s"):
        open_triton("http://127.0.0.1:9", "m", wait_s=1.0)
    assert time.perf_counter() - started >= 1.0  # it did wait (how fast it fails is not a unit test's concern)


def test_run_needs_exactly_one_backend(tmp_path: Path):
    for extra in ([], ["--model", "m.onnx", "--server", "grpc://127.0.0.1:9"]):
        done = CliRunner().invoke(app, ["run", "--source", str(tmp_path), *extra])
        assert isinstance(done.exception, UserError) and "give either --model or --server" in str(done.exception)


class Flaky(Backend):
    """The real model, unavailable on calls number `down`."""

    def __init__(self, inner: Backend, down: set[int]) -> None:
        self.inner, self.down, self.info, self.calls = inner, down, inner.info, 0

    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        if self.calls in self.down:
            raise BackendUnavailable("server unreachable (test)")
        return self.inner.infer(frames)


def test_frames_the_backend_cannot_score_are_missed_not_dropped(tiny_onnx: Path, elpv_images: list[Path], tmp_path):
    folder = tmp_path / "cells"
    folder.mkdir()
    for image in elpv_images:
        (folder / image.name).symlink_to(image)
    backend = Flaky(open_backend(tiny_onnx), down={1, 3, 4})  # call 1: the warm-up
    predictor = Predictor(backend)
    lines, video = tmp_path / "results.jsonl", tmp_path / "overlay.mp4"
    outputs = Outputs([JsonLines(lines), OverlayVideo(video, 5.0)], predictor.threshold)
    pipeline = Pipeline(open_source(str(folder)), predictor, outputs, PipelineOptions(batch=1, keep_images=True))
    summary = pipeline.run()
    rows = [json.loads(line) for line in lines.read_text().splitlines()]
    missed = [row for row in rows if "error" in row]
    assert summary["missed"] == len(missed) == 2 and summary["frames"] == len(elpv_images) - 2
    assert [row["index"] for row in rows] == list(range(len(elpv_images)))
    assert all(row["verdict"] is None and row["score"] is None and "(test)" in row["error"] for row in missed)
    assert video.stat().st_size > 0  # the overlay video skipped the missed frames and kept going


def test_serve_refuses_busy_or_equal_ports():
    import socket

    from padim_edge.serving.pytriton_server import check_ports

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UserError, match=f"127.0.0.1:{port}: cannot listen there"):
            check_ports("127.0.0.1", (port,))
    with pytest.raises(UserError, match="must differ"):
        check_ports("127.0.0.1", (8000, 8000, 8002))
