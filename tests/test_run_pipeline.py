"""`padim-edge run`: real screw frames through video files, a loopback MJPEG stream, a slow backend, SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from padim_edge.runtime.predict_files import predict_files
from typer.testing import CliRunner

from padim_edge.cli import app
from padim_edge.errors import UserError
from padim_edge.runtime.backends import Backend, open_backend
from padim_edge.runtime.pipeline import END, FrameQueue, Pipeline, PipelineOptions, Result
from padim_edge.runtime.predictor import Predictor
from padim_edge.runtime.sources import open_source

ROOT = Path(__file__).resolve().parents[1]


def screw_images(mvtec_root: Path, step: int) -> list[Path]:
    """Every `step`-th screw test image in sorted order: good and all defect types, 512x512 grayscale."""
    return sorted((mvtec_root / "screw" / "test").glob("*/*.png"))[::step]


class MjpegServer:
    """A multipart/x-mixed-replace JPEG stream on 127.0.0.1, cycling `jpegs` at `fps`.

    The first connection is cut after `cut_after` frames (None: never); later ones stream until closed.
    """

    def __init__(self, jpegs: list[bytes], fps: float, cut_after: int | None) -> None:
        self.jpegs, self.fps, self.cut_after, self.connections = jpegs, fps, cut_after, 0
        self.closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.connections += 1
                limit = server.cut_after if server.connections == 1 else None
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                sent = 0
                while not server.closing.is_set() and (limit is None or sent < limit):
                    jpeg = server.jpegs[sent % len(server.jpegs)]
                    part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                    try:
                        self.wfile.write(part + jpeg + b"\r\n")
                        self.wfile.flush()
                    except OSError:  # the client went away
                        return
                    sent += 1
                    time.sleep(1 / server.fps)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def mjpeg(mvtec_root: Path) -> Iterator[callable]:
    """Start MJPEG servers of real screw test images; all are stopped after the test."""
    jpegs = [cv2.imencode(".jpg", cv2.imread(str(p)))[1].tobytes() for p in screw_images(mvtec_root, 8)]
    servers: list[MjpegServer] = []

    def start(fps: float = 25.0, cut_after: int | None = None) -> MjpegServer:
        servers.append(MjpegServer(jpegs, fps, cut_after))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


class ListSink:
    """Keeps every result (tests only: runs here are short)."""

    def __init__(self) -> None:
        self.results: list[Result] = []

    def write(self, result: Result) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


class SlowBackend(Backend):
    """The real onnxruntime backend, made slower by a sleep per call (a speed-only test double)."""

    def __init__(self, inner: Backend, delay: float) -> None:
        self.inner, self.delay, self.info = inner, delay, inner.info

    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(self.delay)
        return self.inner.infer(frames)


def test_video_file_every_frame_in_order_matches_predict(screw_onnx: Path, mvtec_root: Path, tmp_path: Path) -> None:
    images = screw_images(mvtec_root, 4)
    video = tmp_path / "screw.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10.0, (512, 512))  # lossless
    for path in images:
        writer.write(cv2.imread(str(path)))
    writer.release()

    results, summary = tmp_path / "run.jsonl", tmp_path / "summary.json"
    args = ["run", "--model", str(screw_onnx), "--source", str(video), "--batch", "4"]
    outcome = CliRunner().invoke(app, [*args, "--results", str(results), "--summary-json", str(summary)])
    assert outcome.exit_code == 0, outcome.output

    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(len(images)))
    assert [line["timestamp"] for line in lines] == pytest.approx([i / 10.0 for i in range(len(images))])
    expected = list(predict_files(screw_onnx, images))
    assert [line["verdict"] for line in lines] == [e["verdict"] for e in expected]
    assert [line["score"] for line in lines] == pytest.approx([e["score"] for e in expected], rel=1e-4)
    assert {"OK", "NG"} <= {line["verdict"] for line in lines}
    report = json.loads(summary.read_text())
    assert (report["frames"], report["dropped"], report["corrupt"]) == (len(images), 0, 0)
    assert report["stopped_by"] == "end of source" and "capture_to_verdict" in outcome.output


def test_network_stream_cut_reconnects_and_reports_gap(screw_onnx: Path, mjpeg, tmp_path: Path) -> None:
    server = mjpeg(fps=25.0, cut_after=6)
    summary = tmp_path / "summary.json"
    args = ["run", "--model", str(screw_onnx), "--source", server.url, "--max-frames", "16"]
    outcome = CliRunner().invoke(app, [*args, "--summary-json", str(summary)])
    assert outcome.exit_code == 0, outcome.output

    report = json.loads(summary.read_text())
    assert report["frames"] == 16 and report["stopped_by"] == "max frames"
    assert server.connections >= 2 and report["reconnects"] >= 1
    assert len(report["gaps"]) >= 1 and report["gaps"][0]["seconds"] >= 0.4  # the first retry waits 0.5 s
    assert "stream lost" in outcome.output and "gap" in outcome.output


def test_live_source_drops_frames_instead_of_queueing(screw_onnx: Path, mjpeg) -> None:
    delay = 0.15  # ~6 frames/s of inference against a 30 frames/s stream
    server = mjpeg(fps=30.0)
    predictor = Predictor(SlowBackend(open_backend(screw_onnx), delay))
    sink = ListSink()
    summary = Pipeline(open_source(server.url), predictor, sink, PipelineOptions(max_frames=12)).run()

    assert summary["frames"] == 12 and summary["dropped"] >= 12
    indices = [r.frame.index for r in sink.results]
    assert indices == sorted(indices) and indices[-1] - indices[0] > 2 * len(indices)  # skipped ahead
    latencies = [r.latency_s for r in sink.results]
    # At most one frame waits while another is scored: latency stays near 2 inference times and never grows.
    assert max(latencies) < 3 * delay + 0.3, latencies
    assert np.mean(latencies[-4:]) < np.mean(latencies[:4]) + delay


def test_sigint_stops_cleanly_with_complete_outputs(screw_onnx: Path, mjpeg, tmp_path: Path) -> None:
    server = mjpeg(fps=25.0)
    results, video, summary = tmp_path / "run.jsonl", tmp_path / "overlay.mp4", tmp_path / "summary.json"
    command = [sys.executable, "-m", "padim_edge.cli", "run", "--model", str(screw_onnx), "--source", server.url]
    command += ["--results", str(results), "--overlay-video", str(video), "--summary-json", str(summary)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (results.exists() and len(results.read_text().splitlines()) >= 10):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]  # every line is whole JSON
    report = json.loads(summary.read_text())
    assert len(lines) == report["frames"] >= 10 and report["stopped_by"] == "SIGINT"
    assert "capture_to_verdict" in stdout
    capture = cv2.VideoCapture(str(video))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == len(lines)


def test_image_folder_counts_and_skips_corrupt_files(mvtec_root: Path, tmp_path: Path) -> None:
    for i, path in enumerate(screw_images(mvtec_root, 40)):
        (tmp_path / f"{i:03d}.png").write_bytes(path.read_bytes())
    (tmp_path / "001_broken.png").write_bytes(b"not a png")
    messages: list[str] = []
    source = open_source(str(tmp_path), log=messages.append)
    frames = list(source.frames(threading.Event()))
    assert source.stats.corrupt == 1 and "001_broken.png" in messages[0]
    assert [Path(f.name).name for f in frames] == sorted(p.name for p in tmp_path.iterdir() if "broken" not in p.name)
    assert [f.index for f in frames] == [0, 1, *range(3, len(frames) + 1)]  # index 2 was the broken file
    assert all(f.image.shape == (512, 512, 3) for f in frames)


def test_unknown_source_is_a_user_error(tmp_path: Path) -> None:
    for text in (str(tmp_path / "missing.mp4"), str(tmp_path / "*.png")):
        with pytest.raises(UserError, match="missing.mp4|no images"):
            open_source(text)


def test_latest_frame_queue_drops_oldest_but_never_end() -> None:
    queue = FrameQueue(2, drop_oldest=True)
    for item in (1, 2, 3, END):
        queue.put(item)
    assert queue.dropped == 1 and queue.get_many(10) == ([2, 3], True)
