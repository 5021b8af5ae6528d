"""`padim-edge serve` started as a shell starts a background job (SIGINT ignored): it reports ready only once
its model is, Ctrl-C still stops it cleanly, and further signals while it stops change nothing."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from procs import CLI, PORT_RETRIES, PORT_TAKEN, descendants, free_ports, proc_stat, wait_gone


def _status(url: str) -> int:
    """The HTTP status of GET `url` (0: nothing listening yet)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _as_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `cmd &` does in a non-interactive shell


def _start_in_background(model: Path) -> tuple[subprocess.Popen, str, int]:
    """`padim-edge serve MODEL` as a background job on fresh ports, polled for readiness from its very
    start; (process, HTTP base URL, how many polls found it not ready). A port taken meanwhile: new ones."""
    for _ in range(PORT_RETRIES):
        http, grpc, metrics = free_ports(3)
        command = [*CLI, "serve", str(model), "--name", "tiny", "--threads", "1"]
        command += ["--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)]
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_as_background_job
        )
        base, polls, deadline = f"http://127.0.0.1:{http}/v2", 0, time.monotonic() + 120
        while _status(f"{base}/health/ready") != 200:  # as a readiness probe would, from the start
            if process.poll() is not None or time.monotonic() > deadline:
                break
            polls += 1
            time.sleep(0.02)
        else:
            return process, base, polls
        process.kill()
        err = process.communicate()[1]
        if not any(marker in err for marker in PORT_TAKEN):
            raise AssertionError(f"serve did not start:\n{err}")
    raise AssertionError("serve found its ports taken every time")


def test_background_serve_is_ready_only_with_its_model_and_stops_on_ctrl_c(tiny_onnx: Path):
    process, base, polls = _start_in_background(tiny_onnx)
    try:
        assert _status(f"{base}/models/tiny/ready") == 200, "the server said ready before its model was"
        assert polls > 0, "never saw the server before it was ready: the check above proved nothing"
        tritonserver = [p for p in descendants(process.pid) if (st := proc_stat(p)) and st[0] == "tritonserver"]
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        for again in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):  # while it stops: ignored
            process.send_signal(again)
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    err = process.stderr.read()
    assert code == 130, err
    assert "stopped (SIGINT)" in err and "Traceback" not in err, err
    assert tritonserver and not wait_gone(tritonserver, 30), "tritonserver outlived serve"
