"""Helpers shared by the CLI tests."""

import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "padim_edge.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )
