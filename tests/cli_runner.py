"""Run padim-edge in-process (bounded in time) or as a subprocess (bounded, optionally as user nobody), and
read what it said."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
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


def run_subprocess(*args: object, as_nobody: bool = False, timeout: float = 120) -> Outcome:
    """`padim-edge ARGS` in a subprocess; as user nobody when asked (and when this process is root)."""
    result = subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
        preexec_fn=drop_to_nobody if as_nobody and os.geteuid() == 0 else None,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


def drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@contextlib.contextmanager
def public_folder() -> Iterator[Path]:
    """A temporary folder every user may read and enter (pytest's own are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="padim-edge-public-"))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_only_folder(parent: Path) -> Path:
    """A folder in `parent` that the unprivileged test user cannot write into (root ignores the mode:
    commands that write there run as nobody, `run_subprocess(as_nobody=True)`)."""
    folder = parent / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def nobody_can_run() -> str | None:
    """None when read-only checks can run for real here, else why not."""
    if os.geteuid() != 0:
        return None
    probe = subprocess.run(
        [sys.executable, "-c", "import padim_edge.cli"], capture_output=True, preexec_fn=drop_to_nobody, timeout=60
    )
    return None if probe.returncode == 0 else f"user nobody cannot run padim-edge here: {probe.stderr[-200:]!r}"
