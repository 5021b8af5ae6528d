"""`run --http`: the live server's endpoints, /metrics against the summary, the token, path traversal and
the bad-address errors, against a real run on a video of real cell frames (no browser: see
test_live_browser.py)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runner import run_cli
from live_run import LiveRun, median_score, write_video
from prometheus_client.parser import text_string_to_metric_families

from padim_edge.live.server import EVENT_INTERVAL_S
from padim_edge.model_file.onnx_io import read_onnx_metadata

TOKEN = "test-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory, cell_frames: list[Path]) -> Path:
    return write_video(tmp_path_factory.mktemp("live") / "cells.avi", cell_frames, 200)


@pytest.fixture(scope="module")
def threshold(cells_model: Path, cell_frames: list[Path]) -> float:
    return median_score(cells_model, cell_frames)


def metric_values(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus exposition, by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def count_events(run: LiveRun, seconds: float, counts: list[int]) -> None:
    """Read the event stream for `seconds` as a browser would (with the token), counting the events."""
    connection = http.client.HTTPConnection(run.host, run.port, timeout=30)
    connection.request("GET", "/events", headers=BEARER)
    response = connection.getresponse()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = response.readline()
        if not line:
            break
        counts[0] += line.startswith(b"data: ")
    connection.close()


TRAVERSALS = (
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/ng/../../../etc/passwd",
    "/ng/..%2f..%2f..%2fetc%2fpasswd",
    "/ng/0.jpg/../../../../etc/passwd",
    "//etc/passwd",
    "/etc/passwd",
    "/frame.jpg/../../results.jsonl",
    "/ng/-1.jpg",
    "/ng/0.png",
    "/static/../page.py",
)


def test_live_server_metrics_token_and_paths(cells_model: Path, video: Path, threshold: float, tmp_path: Path) -> None:
    results, summary = tmp_path / "results.jsonl", tmp_path / "summary.json"
    args = ["--model", cells_model, "--source", video, "--results", results, "--summary-json", summary]
    run = LiveRun(*args, "--threshold", threshold, PADIM_EDGE_HTTP_TOKEN=TOKEN)
    try:
        events = [0]
        reader = threading.Thread(target=count_events, args=(run, 2.0, events))
        started = time.monotonic()
        reader.start()
        assert run.get("/healthz")[0] == 200  # no token for supervisors
        for path in ("/", "/metrics", "/events", "/frame.jpg", "/ng/0.jpg"):
            assert run.get(path)[0] == 401, path
            assert run.get(path, {"Authorization": "Bearer wrong-token"})[0] == 401, path
        deadline = time.monotonic() + 60
        while (ready := run.get("/readyz")[2]) != b"ready\n":  # until the model is loaded and frames arrive
            assert b"the run has ended" not in ready and time.monotonic() < deadline, ready
            time.sleep(0.02)
        reader.join()
        # A viewer gets at most one event per EVENT_INTERVAL_S, however fast the frames come.
        assert 1 <= events[0] <= (time.monotonic() - started) / EVENT_INTERVAL_S + 1
        run.wait_until_ended()

        lines = [json.loads(line) for line in results.read_text().splitlines()]
        report = json.loads(summary.read_text())
        rejected = sum(line["verdict"] == "NG" for line in lines)
        assert len(lines) == report["frames"] == 200 and 0 < rejected == report["rejected"] < 200
        status, headers, body = run.get("/metrics", BEARER)
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        values = metric_values(body.decode())
        assert values[("padim_edge_frames_total", (("verdict", "NG"),))] == rejected
        assert values[("padim_edge_frames_total", (("verdict", "OK"),))] == len(lines) - rejected
        assert values[("padim_edge_dropped_frames_total", ())] == report["dropped"] == 0
        for name in ("failed", "missed", "corrupt"):
            assert values[(f"padim_edge_{name}_frames_total", ())] == report[name]
        assert values[("padim_edge_reconnects_total", ())] == report["reconnects"]
        end_to_end = ("padim_edge_stage_latency_seconds_count", (("stage", "capture_to_verdict"),))
        assert values[end_to_end] == report["frames"]
        digest = read_onnx_metadata(cells_model).export.graph_sha256
        info = (("digest", digest), ("name", "cells"), ("threshold", repr(threshold)))
        assert values[("padim_edge_model_info", info)] == 1
        assert values[("padim_edge_ready", ())] == 0  # the run has ended

        status, headers, body = run.get("/frame.jpg", BEARER)
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert status == 200 and image.shape == (300, 600, 3) and headers["X-Frame-Index"] == "199"
        for path in TRAVERSALS:
            status, _, body = run.get(path, BEARER)
            assert status == 404 and b"root:" not in body and b'"schema"' not in body, path

        cookie = run.get(f"/?token={TOKEN}")
        assert cookie[0] == 303 and "HttpOnly" in cookie[1]["Set-Cookie"]
        page = run.get("/", {"Cookie": cookie[1]["Set-Cookie"].split(";")[0]})
        assert page[0] == 200 and b"<title>padim-edge live</title>" in page[2]
        assert "script-src 'sha256-" in page[1]["Content-Security-Policy"]
        assert run.get("/readyz")[2] == b"not ready: the run has ended (end of source)\n"
        outcome = run.finish()
    finally:
        run.close()
    assert outcome.code == 0, outcome.err
    assert "200 frames" in outcome.out


def test_rejected_overlays_are_kept_and_served(cells_model: Path, cell_frames: list[Path], tmp_path: Path) -> None:
    folder = cell_frames[0].parent.parent / "defect"
    run = LiveRun("--model", cells_model, "--source", folder, "--threshold", "1e-6")  # every frame NG
    try:
        run.wait_until_ended()
        event = read_one_event(run)
        ids = [reject["id"] for reject in event["rejects"]]
        assert ids == list(range(9, -1, -1)) and event["counts"]["ng"] == 10  # newest first, all 10 kept
        assert [r["name"] for r in event["rejects"]] == sorted((p.name for p in folder.iterdir()), reverse=True)
        for reject in ids:
            full = cv2.imdecode(np.frombuffer(run.get(f"/ng/{reject}.jpg")[2], np.uint8), cv2.IMREAD_COLOR)
            thumb = cv2.imdecode(np.frombuffer(run.get(f"/ng/{reject}_thumb.jpg")[2], np.uint8), cv2.IMREAD_COLOR)
            assert full.shape == (300, 600, 3) and thumb.shape == (80, 160, 3)
        assert run.get("/ng/10.jpg")[0] == 404
        outcome = run.finish()
    finally:
        run.close()
    assert outcome.code == 0, outcome.err


def read_one_event(run: LiveRun) -> dict:
    connection = http.client.HTTPConnection(run.host, run.port, timeout=30)
    try:
        connection.request("GET", "/events")
        response = connection.getresponse()
        while not (line := response.readline()).startswith(b"data: "):
            assert line, "the event stream ended"
        return json.loads(line[6:])
    finally:
        connection.close()


def test_port_in_use_is_one_error_before_the_first_frame(cells_model: Path, video: Path, tmp_path: Path, capfd) -> None:
    results = tmp_path / "results.jsonl"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["run", "--model", cells_model, "--source", video, "--results", results]
        outcome = run_cli(capfd, *args, "--http", f"127.0.0.1:{port}")
    assert outcome.code == 2 and outcome.errors == [outcome.err.strip()], outcome.err
    assert f"--http 127.0.0.1:{port}: cannot listen there" in outcome.errors[0]
    assert not results.exists()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("127.0.0.1:http", "the port must be a number from 0 to 65535"),
        ("127.0.0.1:70000", "the port must be a number from 0 to 65535"),
        ("[::1:8080", "expected HOST:PORT"),
        ("192.0.2.1:8080", "cannot listen there"),  # an address this machine does not have
    ],
)
def test_bad_address_is_one_error(cells_model: Path, video: Path, address: str, message: str, capfd) -> None:
    outcome = run_cli(capfd, "run", "--model", cells_model, "--source", video, "--http", address)
    assert outcome.code == 2 and len(outcome.errors) == 1 and message in outcome.errors[0], outcome.err
    assert "Traceback" not in outcome.err


def test_a_token_with_unsafe_characters_is_refused(cells_model: Path, video: Path, monkeypatch, capfd) -> None:
    monkeypatch.setenv("PADIM_EDGE_HTTP_TOKEN", "two words")
    outcome = run_cli(capfd, "run", "--model", cells_model, "--source", video, "--http", "127.0.0.1:0")
    assert outcome.code == 2 and outcome.errors == [
        "error: PADIM_EDGE_HTTP_TOKEN: use only letters, digits and . _ ~ + / = -"
    ]


def test_metrics_report_the_spool_and_the_model(cells_model: Path, cell_frames: list[Path], tmp_path: Path) -> None:
    """A webhook whose receiver is down: every result waits in the spool, and /metrics says so per sink; it
    also names the model scoring and counts swaps (none here)."""
    video = write_video(tmp_path / "short.avi", cell_frames, 20)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections to it are refused
    args = ["--model", cells_model, "--source", video, "--webhook", f"http://127.0.0.1:{port}/hook"]
    run = LiveRun(*args, "--spool", tmp_path / "spool", "--sink-drain-s", 0)
    try:
        run.wait_until_ended()
        values = metric_values(run.get("/metrics")[2].decode())
        outcome = run.finish()
    finally:
        run.close()
    assert outcome.code == 0, outcome.err
    webhook = (("sink", "webhook"),)
    assert values[("padim_edge_spool_pending", webhook)] == 20
    assert values[("padim_edge_spool_bytes", webhook)] > 0
    assert values[("padim_edge_sink_sent_total", webhook)] == 0
    assert values[("padim_edge_sink_dropped_total", webhook)] == 0
    digest = read_onnx_metadata(cells_model).export.graph_sha256
    assert values[("padim_edge_model_scoring", (("digest", digest),))] == 1
    assert values[("padim_edge_model_swaps_total", ())] == values[("padim_edge_model_swaps_refused_total", ())] == 0
