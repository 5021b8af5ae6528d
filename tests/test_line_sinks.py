"""The webhook, OPC UA and Modbus coil sinks against real servers, the spool when it is full, and the line
flags' bad input. Each fault test prints its figures (sent, received, duplicated, dropped)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import pytest
from cli_runner import cli_command, cli_env, run_cli
from line_servers import FlakyWebhook, ModbusServer, dedup, free_port
from servers import MjpegServer

from padim_edge.sinks.opcua import NAMESPACE, node_ids


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_webhook_that_fails_then_recovers_gets_every_result(
    cells_model: Path, cell_frames: list[Path], tmp_path: Path, capfd, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = FlakyWebhook(failures=4, stall_s=3.0)
    monkeypatch.setenv("PADIM_EDGE_WEBHOOK_TOKEN", "s3cret")
    (tmp_path / "headers").write_text("X-Line: 7\n")
    results, folder = tmp_path / "results.jsonl", cell_frames[0].parent.parent
    try:
        outcome = run_cli(
            capfd, "run", "--model", cells_model, "--source", f"{folder}/*/*.png", "--results", results,
            "--webhook", hook.url, "--webhook-headers", tmp_path / "headers", "--webhook-timeout-s", 1,
            "--webhook-batch", 4, "--sink-drain-s", 60,
        )  # fmt: skip
        received = hook.payloads()
    finally:
        hook.close()
    assert outcome.code == 0, outcome.err
    local, kept = lines(results), dedup(received)
    assert [p["result"] for p in kept] == local  # every result, in order
    assert len(received) > len(kept)  # the stalled POST was taken in, then sent again: at least once
    assert all(h["Authorization"] == "Bearer s3cret" and h["X-Line"] == "7" for h in hook.headers)
    assert "HTTP 500" in outcome.err and "delivering again" in outcome.err
    print(
        f"\nwebhook 500 x4, one answered too late, then 200: {len(local)} results, {hook.requests} requests, "
        f"{len(received)} received, {len(received) - len(kept)} duplicates, {len(local) - len(kept)} missing"
    )


def test_full_spool_drops_the_oldest_and_counts_them_exactly(
    cells_model: Path, cell_frames: list[Path], tmp_path: Path, capfd
) -> None:
    spool, dead = tmp_path / "spool", f"http://127.0.0.1:{free_port()}/hook"
    folder = cell_frames[0].parent.parent
    outcome = run_cli(
        capfd, "run", "--model", cells_model, "--source", f"{folder}/*/*.png", "--results", tmp_path / "r.jsonl",
        "--webhook", dead, "--spool", spool, "--spool-max-mb", 0.004, "--sink-drain-s", 0,
        "--summary-json", tmp_path / "summary.json",
    )  # fmt: skip
    assert outcome.code == 0, outcome.err
    stats = json.loads((tmp_path / "summary.json").read_text())["line"]["webhook"]
    local = lines(tmp_path / "r.jsonl")
    assert stats["dropped"] > 0 and stats["dropped"] + stats["spooled"] == len(local)
    assert f"({stats['dropped']} in this run)" in outcome.err  # logged as it happens

    hook = FlakyWebhook(failures=0, stall_s=0)
    try:
        second = run_cli(
            capfd, "run", "--model", cells_model, "--source", cell_frames[0], "--webhook", hook.url,
            "--spool", spool, "--sink-drain-s", 30,
        )  # fmt: skip
        received = hook.payloads()
    finally:
        hook.close()
    assert second.code == 0, second.err
    kept = dedup(received)
    assert [p["result"] for p in kept[: stats["spooled"]]] == local[stats["dropped"] :]  # the newest survived
    print(
        f"\nspool full (4 kB cap, receiver down): {len(local)} results, {stats['dropped']} dropped (counted), "
        f"{stats['spooled']} kept and delivered next run, {len(received) - len(kept)} duplicates"
    )


def test_opcua_server_serves_the_latest_result_and_counters(
    cells_model: Path, cell_jpegs: list[bytes], tmp_path: Path
) -> None:
    from asyncua import Client

    port, results = free_port(), tmp_path / "results.jsonl"
    camera_stream = MjpegServer(cell_jpegs, fps=25.0)  # a live camera: the server is up for 100 frames, 4 s
    command = cli_command(
        "run", "--model", cells_model, "--source", camera_stream.url, "--max-frames", 100, "--results", results,
        "--opcua", f"opc.tcp://127.0.0.1:{port}", "--camera", "cam-c",
    )  # fmt: skip
    process = subprocess.Popen(command, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    async def read_all() -> dict:
        deadline = time.monotonic() + 60
        while True:
            try:
                async with Client(f"opc.tcp://127.0.0.1:{port}") as client:
                    ns = await client.get_namespace_index(NAMESPACE)
                    ids = node_ids("cam-c")
                    read = await client.read_values([client.get_node(f"ns={ns};s={i}") for i in ids.values()])
                    values = dict(zip(ids, read))  # one Read request: one consistent result
                    if values["Result.ResultId"] or time.monotonic() > deadline:
                        return values
            except (OSError, asyncio.TimeoutError):
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.05)

    try:
        values = asyncio.run(read_all())
    finally:
        _, err = process.communicate(timeout=120)
        camera_stream.close()
    assert process.returncode == 0, err.decode()[-2000:]
    local = {line["index"]: line for line in lines(results)}
    index = values["Result.ResultContent.FrameIndex"]
    assert values["Result.ResultId"].endswith(f"-{index:08d}") and values["Result.IsPartial"] is False
    assert values["Result.ResultContent.Verdict"] == local[index]["verdict"]
    assert values["Result.ResultState"] == {"OK": 1, "NG": 2}[local[index]["verdict"]]
    assert values["Result.ResultContent.Score"] == pytest.approx(local[index]["score"], abs=1e-5)
    assert values["Counters.OkCount"] + values["Counters.NgCount"] >= 1 and values["Counters.FailedCount"] == 0
    assert values["Model.Name"] == "cells" and len(values["Model.Digest"]) == 64


def test_modbus_coil_pulses_on_ng_and_resets(
    cells_model: Path, cell_frames: list[Path], median_threshold: float, tmp_path: Path, capfd
) -> None:
    folder = cell_frames[0].parent.parent
    server, results = ModbusServer(), tmp_path / "results.jsonl"
    try:
        outcome = run_cli(
            capfd, "run", "--model", cells_model, "--source", f"{folder}/*/*.png", "--results", results,
            "--threshold", median_threshold,
            "--modbus-coil", f"127.0.0.1:{server.port}:9", "--modbus-pulse-ms", 50,
            "--summary-json", tmp_path / "summary.json",
        )  # fmt: skip
        writes = server.coil_writes(9)
    finally:
        server.close()
    assert outcome.code == 0, outcome.err
    stats = json.loads((tmp_path / "summary.json").read_text())["line"]["modbus"]
    assert sum(line["verdict"] == "NG" for line in lines(results)) >= 1
    values = [v for _, v in writes]
    assert values and values[0] is True and values[-1] is False
    assert values == [True, False] * (len(values) // 2)  # set, then reset, each pulse
    assert all(b[0] - a[0] >= 0.045 for a, b in zip(writes[::2], writes[1::2]))  # held for the pulse
    assert stats["pulses"] == len(values) // 2 and stats["missed"] == 0


def test_predict_sends_each_result_to_the_webhook(
    cells_model: Path, cell_frames: list[Path], tmp_path: Path, capfd
) -> None:
    hook = FlakyWebhook(failures=0, stall_s=0)
    try:
        outcome = run_cli(
            capfd, "predict", "--model", cells_model, "--json", *cell_frames[:6], "--webhook", hook.url,
            "--camera", "bench-2", "--spool", tmp_path / "spool",
        )  # fmt: skip
        received = hook.payloads()
    finally:
        hook.close()
    assert outcome.code == 0, outcome.err
    assert [p["result"] for p in received] == [json.loads(line) for line in outcome.out.splitlines()]
    assert {p["camera"] for p in received} == {"bench-2"}


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--mqtt", "mqtt//broker/x"], "--mqtt"),
        (["--mqtt", "amqp://broker/x"], "unknown scheme"),
        (["--mqtt", "mqtt://broker:99999/x"], "bad port"),
        (["--mqtt", "mqtt://user:pw@broker/x"], "PADIM_EDGE_MQTT_PASSWORD"),
        (["--mqtt", "mqtts://broker/x", "--mqtt-ca", "/nonexistent/ca.pem"], "--mqtt-ca"),
        (["--webhook", "ftp://host/x"], "unknown scheme"),
        (["--webhook", "http://host:0/x"], "bad port"),
        (["--opcua", "opc.tcp://0.0.0.0:abc"], "bad port"),
        (["--modbus-coil", "plc:502:70000"], "out of range"),
        (["--modbus-coil", "plc:502"], "HOST:PORT:COIL"),
        (["--camera", "a/b", "--mqtt", "mqtt://broker/x"], "--camera"),
    ],
)
def test_bad_line_flags_are_one_error_before_the_first_frame(
    flags: list[str], named: str, cells_model: Path, cell_frames: list[Path], tmp_path: Path, capfd
) -> None:
    results = tmp_path / "results.jsonl"
    outcome = run_cli(capfd, "run", "--model", cells_model, "--source", cell_frames[0], "--results", results, *flags)
    assert outcome.code == 2 and len(outcome.errors) == 1 and named in outcome.errors[0], outcome.err
    assert "Traceback" not in outcome.err and not results.exists()
