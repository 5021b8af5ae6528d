"""The engine's JSON record (`contract.engine_record`) written beside it, whole."""

from __future__ import annotations

from pathlib import Path

from padim_edge.contract.engine_record import EngineRecord, record_path
from padim_edge.storage.atomic import atomic_write


def write_record(engine: Path, record: EngineRecord) -> Path:
    """Write the record beside `engine`, atomically; returns its path."""
    path = record_path(engine)
    atomic_write(path, record.to_json() + "\n")
    return path
