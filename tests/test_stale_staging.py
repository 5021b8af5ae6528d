"""Stale-file clean-up on a folder that several hosts may share: only this host's leftovers of dead
processes are removed; another host's staging is never touched, whatever its process id."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from padim_edge.storage.atomic import atomic_write, clean_stale, staged_folder, staging_prefix
from padim_edge.storage.writer_id import host_tag


def _reaped() -> int:
    """The id of a process of this host that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_this_hosts_dead_writers_are_cleaned(tmp_path: Path):
    here, dead = host_tag(), _reaped()
    other = "0123abcd" if here != "0123abcd" else "fedc9876"
    mine_dead = [tmp_path / f".model.onnx.{here}-{dead}.1a2b3c4d.tmp", tmp_path / f".run.staging-{here}-{dead}-x_1"]
    kept = [
        tmp_path / f".model.onnx.{other}-{dead}.1a2b3c4d.tmp",  # another host: its pid means nothing here
        tmp_path / f".run.staging-{other}-{dead}-x_1",
        tmp_path / f".run.staging-{here}-1-x_1",  # pid 1 lives
        tmp_path / f".model.onnx.{dead}.1a2b3c4d.tmp",  # no host recorded: the writer cannot be told dead
        tmp_path / "model.onnx",
    ]
    for path in [*mine_dead, *kept]:
        path.mkdir() if "staging" in path.name else path.write_bytes(b"x")
    assert sorted(clean_stale(tmp_path)) == sorted(mine_dead)
    assert all(path.exists() for path in kept) and not any(path.exists() for path in mine_dead)


def test_temporary_names_record_host_and_pid(tmp_path: Path):
    prefix = staging_prefix(tmp_path / "run")
    assert prefix == f".run.staging-{host_tag()}-{os.getpid()}-"
    with staged_folder(tmp_path / "run") as stage:
        assert stage.name.startswith(prefix) and clean_stale(tmp_path) == []  # a live writer's stage stays
    atomic_write(tmp_path / "file.txt", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "run"]
