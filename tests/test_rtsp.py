"""A real RTSP camera: GStreamer's RTSP server (tests/rtsp_server.py, run by the system Python) serves a
video of real cell frames as live H.264; `run` scores it, and when the server restarts mid-stream the run
reconnects and its summary counts the gap. Skips, naming what is missing, where the server cannot run."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from cli_runner import line_count, start, wait_for
from servers import FAST

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).with_name("rtsp_server.py")
ELEMENTS = ("multifilesrc", "jpegdec", "videoconvert", "x264enc", "rtph264pay")
PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
    f"print(' '.join(e for e in {ELEMENTS!r} if not Gst.ElementFactory.find(e)))"
)


@pytest.fixture(scope="module")
def rtsp_ready() -> None:
    """Skips with the missing program's name where GStreamer's RTSP server cannot be run."""
    if not Path(SYSTEM_PYTHON).is_file():
        pytest.skip(f"the RTSP test server needs the system Python ({SYSTEM_PYTHON}) with python3-gi")
    probe = subprocess.run([SYSTEM_PYTHON, "-c", PROBE], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(
            "GStreamer's RTSP server is not installed for the system Python (Debian: python3-gi, "
            f"gir1.2-gst-rtsp-server-1.0, gstreamer1.0-rtsp): {probe.stderr.strip().splitlines()[-1]}"
        )
    if probe.stdout.strip():
        pytest.skip(f"GStreamer elements missing for the RTSP test server: {probe.stdout.strip()}")


class RtspCamera:
    """tests/rtsp_server.py serving `frames` (a pattern) at rtsp://127.0.0.1:PORT/cells, started and ready."""

    def __init__(self, frames: str, port: int) -> None:
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), frames, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.kill()
            raise AssertionError(f"the RTSP server did not start: {line}{self.process.communicate(timeout=30)[1]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def cameras() -> Iterator[list[RtspCamera]]:
    started: list[RtspCamera] = []
    yield started
    for camera in started:
        camera.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def jpeg_frames(folder: Path, frames: list[Path]) -> str:
    """The cell frames as a numbered JPEG sequence; the pattern GStreamer's multifilesrc reads."""
    folder.mkdir()
    for i, path in enumerate(frames):
        assert cv2.imwrite(str(folder / f"{i:03d}.jpg"), cv2.imread(str(path)))
    return str(folder / "%03d.jpg")


def test_rtsp_camera_restarted_midstream_is_reconnected_and_the_gap_counted(
    rtsp_ready: None, cells_model: Path, cell_frames: list[Path], tmp_path: Path, cameras: list[RtspCamera]
) -> None:
    video = jpeg_frames(tmp_path / "frames", cell_frames)
    port = free_port()
    cameras.append(RtspCamera(video, port))
    results, summary = tmp_path / "results.jsonl", tmp_path / "summary.json"
    url = f"rtsp://127.0.0.1:{port}/cells"
    args = ["run", "--model", cells_model, "--source", url, "--results", results, "--summary-json", summary]
    process = start(*args, "--max-frames", 50, **FAST)
    try:
        wait_for(process, lambda: line_count(results) >= 15)
        cameras.pop().stop()
        stopped = time.monotonic()
        time.sleep(1.0)
        cameras.append(RtspCamera(video, port))
        downtime = time.monotonic() - stopped
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    report = json.loads(summary.read_text())
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == report["frames"] == 50 and report["stopped_by"] == "max frames"
    assert report["reconnects"] >= 1 and len(report["gaps"]) >= 1
    assert report["gap_s"] >= downtime - 0.2, (report["gaps"], downtime)
    assert "stream lost, reconnecting" in stderr and "stream back after" in stderr
    assert f"{report['reconnects']} reconnects, {report['gap_s']:.1f} s without a stream" in stdout
    print(
        f"RTSP restart: server down {downtime:.2f} s; summary {report['reconnects']} reconnects, gaps {report['gaps']}"
    )
