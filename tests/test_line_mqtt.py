"""MQTT to a real broker (Mosquitto, else amqtt), with faults: the broker killed with SIGKILL mid-run and
restarted 10 s later, `run` killed with SIGKILL while the broker is down, a dead broker from the start.
Each test prints its figures (sent, received, duplicated) for the record."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import cli_command, cli_env, run_cli
from line_servers import Broker, Subscriber, dedup, free_port
from servers import MjpegServer

from padim_edge.sinks.payload import PAYLOAD_SCHEMA


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "broker")
    yield broker
    broker.close()


def start_run(*args: object) -> subprocess.Popen:
    return subprocess.Popen(cli_command("run", *args), env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def spooled(folder: Path) -> list[dict]:
    """The records a spool holds that were not yet acknowledged."""
    acked_file = folder / "acked"
    segments = sorted(folder.glob("*.log"))
    acked = int(acked_file.read_text()) if acked_file.exists() else int(segments[0].stem) if segments else 0
    out = []
    for segment in segments:
        for seq, line in enumerate(segment.read_bytes().splitlines(), int(segment.stem)):
            if seq >= acked:
                out.append(json.loads(line))
    return out


def spooled_so_far(folder: Path) -> list[dict]:
    try:
        return spooled(folder)
    except (FileNotFoundError, ValueError):  # not created yet, or a line being written
        return []


def test_broker_killed_and_restarted_mid_run_loses_nothing(
    cells_model: Path, cell_jpegs: list[bytes], broker: Broker, tmp_path: Path
) -> None:
    camera_stream = MjpegServer(cell_jpegs, fps=25.0)
    broker.start()
    subscriber = Subscriber(broker.port, "line/#")
    results = tmp_path / "results.jsonl"
    try:
        process = start_run(
            "--model", cells_model, "--source", camera_stream.url, "--max-frames", 300, "--results", results,
            "--mqtt", f"mqtt://127.0.0.1:{broker.port}/line", "--camera", "cam-a", "--sink-drain-s", 60,
        )  # fmt: skip
        subscriber.wait_results(60, timeout=60)
        broker.kill()
        killed_at = len(dedup(subscriber.results()))
        time.sleep(10)
        broker.start()
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err.decode()[-2000:]
        local = lines(results)
        received = subscriber.wait_results(len(local), timeout=30)
    finally:
        subscriber.close()
        camera_stream.close()
    kept = dedup(received)
    assert len(local) == 300
    assert [p["result"]["index"] for p in kept] == [line["index"] for line in local]  # all, in order
    assert [p["result"] for p in kept] == local  # the very lines of the local file
    assert {p["camera"] for p in kept} == {"cam-a"} and {p["payload_schema"] for p in kept} == {PAYLOAD_SCHEMA}
    assert "cannot deliver" in err.decode() and "delivering again" in err.decode()
    print(
        f"\nbroker kill -9 + restart after 10 s ({broker.kind}): {len(local)} results, {killed_at} received before "
        f"the kill, {len(received)} received in all, {len(received) - len(kept)} duplicates, "
        f"{len(local) - len(kept)} missing"
    )


def test_run_killed_while_the_broker_is_down_sends_the_spool_next_time(
    cells_model: Path, cell_jpegs: list[bytes], cell_frames: list[Path], broker: Broker, tmp_path: Path
) -> None:
    camera_stream = MjpegServer(cell_jpegs, fps=25.0)
    spool, url = tmp_path / "spool", f"mqtt://127.0.0.1:{broker.port}/line"
    args = ["--model", cells_model, "--mqtt", url, "--camera", "cam-b", "--spool", spool]
    process = start_run(*args, "--source", camera_stream.url, "--results", tmp_path / "first.jsonl")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(spooled_so_far(spool / "mqtt-cam-b")) < 50:
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    finally:
        camera_stream.close()
    waiting = spooled(spool / "mqtt-cam-b")
    assert len(waiting) >= 50

    broker.start()
    subscriber = Subscriber(broker.port, "line/#")
    try:
        second = run_subprocess_ok(*args, "--source", cell_frames[0].parent, "--results", tmp_path / "second.jsonl")
        received = subscriber.wait_results(len(waiting) + len(lines(tmp_path / "second.jsonl")), timeout=30)
        status = [json.loads(p) for p in subscriber.on("/status")]
    finally:
        subscriber.close()
    kept = dedup(received)
    ids = [p["result_id"] for p in kept]
    assert ids[: len(waiting)] == [p["result_id"] for p in waiting]  # the spool first, in order
    assert len(kept) == len(waiting) + len(lines(tmp_path / "second.jsonl"))
    assert "left in" in second and status[-1]["state"] == "offline" and status[0]["state"] == "online"
    print(
        f"\nrun kill -9 while the broker was down ({broker.kind}): {len(waiting)} results in the spool, "
        f"{len(received)} received by the next run, {len(received) - len(kept)} duplicates"
    )


def run_subprocess_ok(*args: object) -> str:
    done = subprocess.run(cli_command("run", *args), env=cli_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def test_dead_broker_only_warns_and_the_local_file_is_whole(
    cells_model: Path, cell_frames: list[Path], tmp_path: Path, capfd
) -> None:
    folder = cell_frames[0].parent
    plain, sinked = tmp_path / "plain.jsonl", tmp_path / "sinked.jsonl"
    assert run_cli(capfd, "run", "--model", cells_model, "--source", folder, "--results", plain).code == 0
    dead = f"mqtt://127.0.0.1:{free_port()}/line"
    outcome = run_cli(
        capfd, "run", "--model", cells_model, "--source", folder, "--results", sinked, "--mqtt", dead,
        "--sink-drain-s", 0, "--summary-json", tmp_path / "summary.json",
    )  # fmt: skip
    assert outcome.code == 0, outcome.err
    assert "does not answer" in outcome.err and not outcome.errors
    strip = [{k: v for k, v in line.items() if k != "latency_ms"} for line in lines(plain)]
    assert [{k: v for k, v in line.items() if k != "latency_ms"} for line in lines(sinked)] == strip
    mqtt = json.loads((tmp_path / "summary.json").read_text())["line"]["mqtt"]
    assert mqtt["sent"] == 0 and mqtt["spooled"] == len(strip) and mqtt["dropped"] == 0


def test_status_summary_overlays_and_a_password_from_the_environment(
    cells_model: Path, cell_frames: list[Path], median_threshold: float, tmp_path: Path
) -> None:
    broker = Broker(tmp_path / "broker", users={"inspector": "pw-1", "reader": "pw-2"})
    if broker.kind != "mosquitto":
        pytest.skip("needs Eclipse Mosquitto (its password file); the amqtt fallback runs the other MQTT tests")
    broker.start()
    subscriber = Subscriber(broker.port, "line/#", user=("reader", "pw-2"))
    results = tmp_path / "results.jsonl"
    command = cli_command(
        "run", "--model", cells_model, "--source", f"{cell_frames[0].parent.parent}/*/*.png", "--results", results,
        "--mqtt", f"mqtt://inspector@127.0.0.1:{broker.port}/line", "--camera", "cam-d", "--mqtt-overlays",
        "--threshold", median_threshold,
    )  # fmt: skip
    try:
        done = subprocess.run(
            command, env=cli_env(PADIM_EDGE_MQTT_PASSWORD="pw-1"), capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-2000:]
        local = lines(results)
        received = subscriber.wait_results(len(local), timeout=30)
        time.sleep(0.5)  # the overlays (QoS 0) and the last status
        status = [json.loads(p) for p in subscriber.on("/status")]
        summary = [json.loads(p) for p in subscriber.on("/summary")]
        overlays = [t for t, _, _ in subscriber.messages if "/overlay/" in t]
    finally:
        subscriber.close()
        broker.close()
    assert "pw-1" not in " ".join(map(str, command))
    assert [p["result"] for p in dedup(received)] == local
    ng = [line for line in local if line["verdict"] == "NG"]
    assert ng and 1 <= len(overlays) <= len(ng)  # best effort, the newest first when they come fast
    assert status[0]["state"] == "online" and status[0]["threshold"] == pytest.approx(median_threshold)
    assert status[-1]["state"] == "offline"
    assert (
        summary[-1]["ng"] == len(ng) and summary[-1]["ok"] == len(local) - len(ng) and summary[-1]["sent"] == len(local)
    )
