"""Run padim-edge in-process (bounded in time) or as a subprocess (bounded, optionally as user nobody), and
read what it said."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from padim_edge.cli import main

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534


class Hung(BaseException):
    """A command ran past its time limit (BaseException: the CLI's own handlers must not swallow it)."""


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Hung in the main thread after `seconds`."""

    def expired(_signum: int, _frame: object) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(capfd: pytest.CaptureFixture, *args: object, limit_s: float = 120) -> Outcome:
    """`padim-edge ARGS` in this process; stdout and stderr as the file descriptors saw them (C libraries
    included)."""
    capfd.readouterr()
    with time_limit(limit_s):
        code = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return Outcome(code, out, err)


def cli_command(*args: object) -> list[str]:
    return [sys.executable, "-m", "padim_edge.cli", *map(str, args)]


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **extra}


def run_subprocess(*args: object, timeout: float = 120) -> Outcome:
    """`padim-edge ARGS` in a subprocess."""
    result = subprocess.run(cli_command(*args), capture_output=True, text=True, env=cli_env(), timeout=timeout)
    return Outcome(result.returncode, result.stdout, result.stderr)


def start(*args: object, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        cli_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(**env)
    )


def wait_for(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    """Poll `ready()` until true; fail (with the process's stderr) if it ends or time runs out first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"not ready (exit {process.poll()}): {process.communicate(timeout=30)[1]}")
        time.sleep(0.05)


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def run_as_nobody(python: list[str], *args: object, timeout: float = 120) -> Outcome:
    """`padim-edge ARGS` as user nobody, through `python` (from `nobody_python`)."""
    result = subprocess.run(
        [*python, "-m", "padim_edge.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(PYTHONPATH=os.pathsep.join([str(ROOT), *site.getsitepackages()])),
        timeout=timeout,
        preexec_fn=drop_to_nobody,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


def nobody_python() -> list[str]:
    """An interpreter that user nobody may run and that imports this checkout with this environment's
    packages (a venv's interpreter may live in root's home); skips the test where there is none."""
    if os.geteuid() != 0:
        pytest.skip("not root: cannot switch to user nobody")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = dict.fromkeys([sys.executable, os.path.realpath(sys.executable), f"/usr/bin/{version}"])
    env = cli_env(PYTHONPATH=os.pathsep.join([str(ROOT), *site.getsitepackages()]))
    for python in candidates:
        try:
            probe = subprocess.run(
                [python, "-c", "import padim_edge.cli, onnxruntime"],
                capture_output=True,
                env=env,
                timeout=60,
                preexec_fn=drop_to_nobody,
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return [python]
    pytest.skip(f"no interpreter that user nobody may run imports padim-edge here (tried {', '.join(candidates)})")


@contextlib.contextmanager
def public_folder() -> Iterator[Path]:
    """A temporary folder every user may read and enter (pytest's own are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="padim-edge-public-"))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def read_only_folder(parent: Path) -> Iterator[Path]:
    """A folder in `parent` that this process cannot write into: mode 0555, and for root (who ignores
    modes) also the immutable attribute (`chattr +i`); skips the test where neither holds."""
    folder = parent / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = os.geteuid() == 0
    try:
        if immutable:
            done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                immutable = False
                pytest.skip(f"root ignores folder modes, and chattr +i is refused here: {done.stderr.strip()}")
        try:
            (folder / "probe").touch()
        except OSError:
            yield folder
        else:
            pytest.skip(f"{folder} is writable despite its mode and attributes")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True, timeout=30)
        folder.chmod(0o755)
