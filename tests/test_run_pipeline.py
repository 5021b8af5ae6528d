"""`predict` and `run`, one pipeline: real ELPV cell frames as image files, a video file, loopback network
streams (cut, silent, garbage, a remote file), a slow backend, Ctrl-C, SIGTERM and SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runner import cli_command, cli_env, line_count, run_cli, start, wait_for
from servers import FAST, FileServer, MjpegServer
from tamper import link_or_copy

from padim_edge.runtime.backends import Backend, open_backend
from padim_edge.runtime.pipeline import END, FrameQueue, Pipeline, PipelineOptions
from padim_edge.runtime.predictor import Predictor
from padim_edge.runtime.results import FrameResult
from padim_edge.runtime.sources import open_source
from padim_edge.runtime.stream_policy import RetryPolicy


@pytest.fixture
def fast_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short network timeouts and reconnection waits, so outages take a second, not a minute."""
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def jpegs(cell_frames: list[Path]) -> list[bytes]:
    return [cv2.imencode(".jpg", cv2.imread(str(p)))[1].tobytes() for p in cell_frames[::2]]


@pytest.fixture
def servers() -> Iterator[list]:
    """Servers a test starts; all closed after it."""
    started: list = []
    yield started
    for server in started:
        server.close()


def without_latency(line: dict) -> dict:
    return {k: v for k, v in line.items() if k != "latency_ms"}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


class ListSink:
    """Keeps every result (runs here are short)."""

    def __init__(self) -> None:
        self.results: list[FrameResult] = []

    def write(self, result: FrameResult) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


class SlowBackend(Backend):
    """The real onnxruntime backend, slower by a sleep per call (a speed-only test double)."""

    def __init__(self, inner: Backend, delay: float) -> None:
        self.inner, self.delay, self.info = inner, delay, inner.info

    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(self.delay)
        return self.inner.infer(frames)


def test_predict_and_run_give_the_same_lines(cells_model: Path, cells_root: Path, tmp_path: Path, capfd) -> None:
    folder = cells_root / "cells" / "test" / "defect"
    predicted = run_cli(capfd, "predict", "--model", cells_model, "--json", "--batch", 1, folder)
    results = tmp_path / "run.jsonl"
    ran = run_cli(capfd, "run", "--model", cells_model, "--source", folder, "--results", results)
    assert predicted.code == ran.code == 0, predicted.err + ran.err
    lines = json_lines(predicted.out)
    assert [without_latency(line) for line in lines] == [
        without_latency(line) for line in json_lines(results.read_text())
    ]
    assert [line["name"] for line in lines] == sorted(p.name for p in folder.iterdir())
    assert {line["verdict"] for line in lines} <= {"OK", "NG"} and all(line["schema"] == 2 for line in lines)


def test_video_file_every_frame_once_in_order(
    cells_model: Path, cell_frames: list[Path], tmp_path: Path, capfd
) -> None:
    video = tmp_path / "cells.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10.0, (600, 300))  # lossless
    for path in cell_frames:
        writer.write(cv2.imread(str(path)))
    writer.release()
    results, summary = tmp_path / "run.jsonl", tmp_path / "summary.json"
    args = ["run", "--model", cells_model, "--source", video, "--batch", 4, "--results", results]
    outcome = run_cli(capfd, *args, "--summary-json", summary)
    assert outcome.code == 0, outcome.err

    lines = json_lines(results.read_text())
    assert [line["index"] for line in lines] == list(range(len(cell_frames)))
    assert [line["timestamp"] for line in lines] == pytest.approx([i / 10.0 for i in range(len(cell_frames))])
    expected = json_lines(run_cli(capfd, "predict", "--model", cells_model, "--json", *cell_frames).out)
    assert [line["score"] for line in lines] == pytest.approx([e["score"] for e in expected], rel=1e-4)
    report = json.loads(summary.read_text())
    assert (report["frames"], report["dropped"], report["corrupt"], report["stopped_by"]) == (20, 0, 0, "end of source")
    assert "capture_to_verdict" in outcome.out


def test_remote_video_file_is_played_once(
    cells_model: Path, cell_frames: list[Path], tmp_path: Path, servers: list, fast_network: None, capfd
) -> None:
    video = tmp_path / "cells.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (600, 300))
    for path in cell_frames[:8]:
        writer.write(cv2.imread(str(path)))
    writer.release()
    servers.append(FileServer(video))
    outcome = run_cli(capfd, "run", "--model", cells_model, "--source", servers[0].url, "--results", "-")
    assert outcome.code == 0, outcome.err
    assert [line["index"] for line in json_lines(outcome.out)] == list(range(8))
    assert "8 frames" in outcome.err and "stream lost" not in outcome.err


def test_stream_cut_midway_reconnects_and_reports_the_gap(
    cells_model: Path, jpegs: list[bytes], tmp_path: Path, servers: list, fast_network: None, capfd
) -> None:
    servers.append(MjpegServer(jpegs, fps=25.0, cut_after=6))
    summary = tmp_path / "summary.json"
    args = ["run", "--model", cells_model, "--source", servers[0].url, "--max-frames", 16]
    outcome = run_cli(capfd, *args, "--summary-json", summary)
    assert outcome.code == 0, outcome.err

    report = json.loads(summary.read_text())
    assert report["frames"] == 16 and report["stopped_by"] == "max frames"
    assert servers[0].connections >= 2 and report["reconnects"] >= 1
    assert len(report["gaps"]) >= 1 and report["gaps"][0]["seconds"] >= 0.09  # the first retry waits 0.1 s
    assert "stream lost, reconnecting" in outcome.err and "stream back after" in outcome.err


def test_stream_that_never_yields_a_frame_is_given_up(
    cells_model: Path, jpegs: list[bytes], servers: list, fast_network: None, capfd
) -> None:
    servers.append(MjpegServer(jpegs, garbage=True))
    started = time.monotonic()
    outcome = run_cli(capfd, "run", "--model", cells_model, "--source", servers[0].url, "--max-retries", 2)
    assert outcome.code == 2 and len(outcome.errors) == 1, outcome.err
    assert "no frame was scored (stream lost (2 reconnection attempts failed))" in outcome.errors[0]
    assert "gave up after an outage of" in outcome.err and servers[0].connections == 3
    assert time.monotonic() - started < 30


def test_stream_lost_for_good_ends_the_run_with_exit_1(
    cells_model: Path, jpegs: list[bytes], servers: list, fast_network: None, capfd
) -> None:
    servers.append(MjpegServer(jpegs, cut_after=5, later="silent"))
    outcome = run_cli(capfd, "run", "--model", cells_model, "--source", servers[0].url, "--max-retries", 1)
    assert outcome.code == 1 and len(outcome.errors) == 1, outcome.err
    assert "stream lost (1 reconnection attempts failed) after" in outcome.errors[0]
    assert "gave up after an outage of" in outcome.err and servers[0].connections == 2


def test_live_source_drops_frames_instead_of_queueing(
    cells_model: Path, jpegs: list[bytes], servers: list, fast_network: None
) -> None:
    delay = 0.15  # ~6 frames/s of inference against a 30 frames/s stream
    servers.append(MjpegServer(jpegs, fps=30.0))
    predictor = Predictor(SlowBackend(open_backend(cells_model), delay))
    sink = ListSink()
    source = open_source(servers[0].url, policy=RetryPolicy.from_env())
    summary = Pipeline(source, predictor, sink, PipelineOptions(max_frames=12)).run()

    assert summary["frames"] == 12 and summary["dropped"] >= 12
    indices = [r.frame.index for r in sink.results]
    assert indices == sorted(indices) and indices[-1] - indices[0] > 2 * len(indices)  # skipped ahead


def test_ctrl_c_gives_whole_json_lines_and_a_playable_video(
    cells_model: Path, jpegs: list[bytes], tmp_path: Path, servers: list
) -> None:
    servers.append(MjpegServer(jpegs, fps=25.0))
    results, video, summary = tmp_path / "run.jsonl", tmp_path / "overlay.mp4", tmp_path / "summary.json"
    args = ["run", "--model", cells_model, "--source", servers[0].url, "--results", results]
    process = start(*args, "--overlay-video", video, "--summary-json", summary, **FAST)
    try:
        wait_for(process, lambda: line_count(results) >= 10)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    lines = json_lines(results.read_text())
    report = json.loads(summary.read_text())
    assert len(lines) == report["frames"] >= 10 and report["stopped_by"] == "SIGINT"
    assert "capture_to_verdict" in stdout
    capture = cv2.VideoCapture(str(video))
    frames = 0
    while capture.read()[0] and frames <= len(lines):
        frames += 1
    assert frames == len(lines)


def test_sigterm_during_an_outage_says_so(cells_model: Path, jpegs: list[bytes], tmp_path: Path, servers: list) -> None:
    servers.append(MjpegServer(jpegs, cut_after=5, later="silent"))
    results = tmp_path / "run.jsonl"
    process = start(
        "run", "--model", cells_model, "--source", servers[0].url, "--results", results, "--max-retries", -1, **FAST
    )
    try:
        wait_for(process, lambda: line_count(results) >= 1 and servers[0].connections >= 3)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "stopped during an outage of" in stderr and "stream back" not in stderr
    assert 1 <= len(json_lines(results.read_text())) <= 5 and "(stopped: SIGTERM)" in stdout


def test_predict_killed_midway_keeps_what_it_wrote(cells_model: Path, cell_frames: list[Path], tmp_path: Path) -> None:
    folder, overlays, out = tmp_path / "many", tmp_path / "overlays", tmp_path / "stdout.jsonl"
    for i in range(120):
        link_or_copy(cell_frames[i % len(cell_frames)], folder / f"{i:03d}.png")
    args = ["predict", "--model", cells_model, "--json", "--batch", 1, "--overlay-dir", overlays, folder]
    with open(out, "w") as stdout:
        process = subprocess.Popen(cli_command(*args), stdout=stdout, stderr=subprocess.PIPE, env=cli_env())
        try:
            wait_for(process, lambda: line_count(out) >= 5)
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        finally:
            process.kill()
    text = out.read_text()
    lines = json_lines(text)
    # killed while running (-SIGKILL, not exit 0): however far it got, every line it wrote is whole
    assert process.returncode == -signal.SIGKILL and text.endswith("\n") and len(lines) >= 5
    assert all(line["score"] > 0 for line in lines)
    assert_whole_pngs(overlays, at_least=len(lines) - 1)


def test_run_killed_midway_keeps_what_it_wrote(cells_model: Path, cell_frames: list[Path], tmp_path: Path) -> None:
    folder, results, rejects = tmp_path / "many", tmp_path / "run.jsonl", tmp_path / "ng"
    for i in range(120):
        link_or_copy(cell_frames[i % len(cell_frames)], folder / f"{i:03d}.png")
    args = ["run", "--model", cells_model, "--source", folder, "--results", results, "--save-ng", rejects]
    process = start(*args, "--threshold", "1e-6")  # every frame NG: every frame saved with its overlay
    try:
        wait_for(process, lambda: line_count(results) >= 5)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    finally:
        process.kill()
    text = results.read_text()
    assert process.returncode == -signal.SIGKILL and text.endswith("\n")
    lines = json_lines(text)
    assert len(lines) >= 5 and all(line["verdict"] == "NG" for line in lines)
    assert_whole_pngs(rejects, at_least=2 * (len(lines) - 1))


def assert_whole_pngs(folder: Path, at_least: int) -> None:
    """Every PNG in `folder` decodes whole; temporary files of the killed writer are hidden (.*.tmp)."""
    pngs = sorted(folder.glob("[!.]*.png"))
    assert len(pngs) >= at_least
    for png in pngs:
        image = cv2.imread(str(png))
        assert image is not None and image.shape == (300, 600, 3), png
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in folder.iterdir() if p.suffix != ".png")


def test_latest_frame_queue_drops_oldest_but_never_end() -> None:
    queue = FrameQueue(2, drop_oldest=True)
    for item in (1, 2, 3, END):
        queue.put(item)
    assert queue.dropped == 1 and queue.get_many(10) == ([2, 3], True)
