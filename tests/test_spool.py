"""The disk spool on its own: order, the committed offset across reopening, a torn last record, the size
cap's exact drop count, and one process per spool."""

from __future__ import annotations

from pathlib import Path

import pytest

from padim_edge.errors import UserError
from padim_edge.sinks.spool import Spool


def records(n: int, start: int = 0) -> list[bytes]:
    return [b'{"i":%d,"pad":"%s"}' % (i, b"x" * 80) for i in range(start, start + n)]


def test_reopened_spool_resumes_after_the_last_acknowledged_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", max_bytes=1 << 20)
    spool.append(records(10))
    assert [r for _, r in spool.read(4)] == records(4)
    spool.commit(3)  # the receiver acknowledged 0, 1, 2; 3 was read but not acknowledged
    spool.close()
    with open(next((tmp_path / "s").glob("*.log")), "ab") as segment:
        segment.write(b'{"i":10,"pad')  # a record cut by a crash
    again = Spool(tmp_path / "s", max_bytes=1 << 20)
    assert again.pending == 7
    assert [r for _, r in again.read(100)] == records(7, 3)
    again.rewind()
    assert [seq for seq, _ in again.read(2)] == [3, 4]


def test_full_spool_drops_whole_oldest_segments_and_counts_each_record(tmp_path: Path) -> None:
    messages: list[str] = []
    spool = Spool(tmp_path / "s", max_bytes=8 * 1024, log=messages.append)
    for start in range(0, 300, 3):
        spool.append(records(3, start))
    kept = spool.read(1000)
    assert spool.size_bytes <= 8 * 1024
    assert spool.dropped + len(kept) == 300 and spool.dropped > 0
    assert [r for _, r in kept] == records(len(kept), 300 - len(kept))  # the newest, in order
    assert messages and messages[-1].endswith(f"({spool.dropped} in this run)")


def test_a_spool_serves_one_process(tmp_path: Path) -> None:
    first = Spool(tmp_path / "s", max_bytes=1 << 20)
    with pytest.raises(UserError, match="in use"):
        Spool(tmp_path / "s", max_bytes=1 << 20)
    first.close()
