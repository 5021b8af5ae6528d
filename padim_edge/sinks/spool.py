"""Store-and-forward on disk: an append-only, segmented log of records with a committed read offset.

Records are single lines (compact JSON) appended to segment files named by the sequence number of their
first record. A record is written with one `os.write` on an O_APPEND descriptor, so a `kill -9` of the
process loses nothing already appended (the kernel holds it); `fsync` runs every `fsync_s` seconds,
which bounds what a power cut can lose. The sequence number of the next record to deliver is committed
(`acked`, replaced by rename) only after the receiver acknowledged everything before it. When the log
grows past `max_bytes`, whole oldest segments are removed and each record in them not yet delivered is
counted in `dropped`. A lock file keeps two processes out of one spool.

Hand-written rather than a library: the log shippers' disk buffers (Fluent Bit, Vector) are not
embeddable from Python, and a queue in SQLite would not give the per-segment drop accounting.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from padim_edge.errors import UserError

SUFFIX = ".log"
ACKED = "acked"
SEGMENTS_PER_CAP = 8  # a full spool drops about 1/8 of its records at a time


@dataclass
class Segment:
    first: int  # sequence number of its first record
    path: Path
    count: int
    size: int

    @property
    def end(self) -> int:
        return self.first + self.count


class Spool:
    """One sink's spool in `folder`. The sink's spooling thread appends while its sending thread reads and
    commits: every public method holds the spool's lock. Read positions are remembered as byte offsets, so
    a read does not rescan its segment."""

    def __init__(
        self,
        folder: Path,
        max_bytes: int,
        fsync_s: float = 1.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.folder, self.max_bytes, self.fsync_s = Path(folder), max_bytes, fsync_s
        self.segment_bytes = max(1024, max_bytes // SEGMENTS_PER_CAP)
        self._log = log or (lambda _message: None)
        self.dropped = 0  # records removed undelivered because the spool was full (this process)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"spool {self.folder}: cannot write there ({exc.strerror or exc})") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise UserError(f"spool {self.folder}: in use by another running padim-edge") from None
        self.segments = self._scan()
        self.committed = self._read_acked()
        self._drop_acked()
        self.cursor = self.committed  # next record to read; rewinds to `committed` after a failed send
        # (sequence number, segment's first, byte offset) of the cursor and of the committed record, when known
        self._cursor_at: tuple[int, int, int] | None = None
        self._committed_at: tuple[int, int, int] | None = None
        self._read_at: dict[int, tuple[int, int]] = {}  # positions of the last read's records and its end
        self._lock = threading.RLock()
        self._fd: int | None = None
        self._last_sync = time.monotonic()
        self._dirty = False

    # --- state on disk -------------------------------------------------------------------------------------

    def _scan(self) -> list[Segment]:
        """The segments in order; a torn last line (a write cut by a crash) is cut off."""
        segments = []
        for path in sorted(self.folder.glob("*" + SUFFIX)):
            try:
                first = int(path.stem)
            except ValueError:
                continue
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                data = data[: data.rfind(b"\n") + 1]
                os.truncate(path, len(data))
            segments.append(Segment(first, path, data.count(b"\n"), len(data)))
        return segments

    def _read_acked(self) -> int:
        first = self.segments[0].first if self.segments else 0
        try:
            acked = int((self.folder / ACKED).read_text().strip())
        except (FileNotFoundError, ValueError):
            return first
        return max(acked, first)

    @property
    def next_seq(self) -> int:
        return self.segments[-1].end if self.segments else self.committed

    @property
    def pending(self) -> int:
        """Records not yet acknowledged by the receiver."""
        return self.next_seq - self.committed

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    # --- writing -------------------------------------------------------------------------------------------

    def append(self, records: list[bytes]) -> None:
        """Append records (no newline inside) with one write; drop the oldest segments past the cap."""
        if not records:
            return
        with self._lock:
            self._append(records)

    def _append(self, records: list[bytes]) -> None:
        if not self.segments or self.segments[-1].size >= self.segment_bytes:
            self._new_segment()
        data = b"".join(r + b"\n" for r in records)
        os.write(self._active_fd(), data)
        last = self.segments[-1]
        last.count, last.size = last.count + len(records), last.size + len(data)
        self._dirty = True
        while self.size_bytes > self.max_bytes and len(self.segments) > 1:
            self._drop_oldest()

    def _new_segment(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        seq = self.next_seq
        self.segments.append(Segment(seq, self.folder / f"{seq:016d}{SUFFIX}", 0, 0))

    def _active_fd(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.segments[-1].path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    def _drop_oldest(self) -> None:
        oldest = self.segments.pop(0)
        lost = oldest.end - max(self.committed, oldest.first)
        if lost > 0:
            self.dropped += lost
            self._log(
                f"warning: spool {self.folder} is full ({self.max_bytes} bytes): dropped the {lost} oldest "
                f"undelivered results ({self.dropped} in this run)"
            )
        oldest.path.unlink(missing_ok=True)
        if self.committed < oldest.end:
            self.committed = oldest.end
            self._write_acked()
        self.cursor = max(self.cursor, self.committed)

    # --- reading and acknowledging ---------------------------------------------------------------------------

    def read(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` records from the cursor on, as (sequence number, record); advances the cursor."""
        with self._lock:
            out: list[tuple[int, bytes]] = []
            seq, self._read_at = self.cursor, {}
            for segment in self.segments:
                if len(out) >= limit:
                    break
                if segment.end <= seq:
                    continue
                offset = self._offset(segment, seq)
                with open(segment.path, "rb") as f:
                    f.seek(offset)
                    while seq < segment.end and len(out) < limit:
                        line = f.readline()
                        self._read_at[seq] = (segment.first, offset)
                        out.append((seq, line.rstrip(b"\n")))
                        seq, offset = seq + 1, offset + len(line)
                self._read_at[seq] = (segment.first, offset)
                self._cursor_at = (seq, segment.first, offset)
            self.cursor = seq
            return out

    def _offset(self, segment: Segment, seq: int) -> int:
        """The byte offset of record `seq` in `segment`: known, or found by counting lines."""
        if seq <= segment.first:
            return 0
        for known in (self._cursor_at, self._committed_at):
            if known is not None and known[:2] == (seq, segment.first):
                return known[2]
        offset = 0
        with open(segment.path, "rb") as f:
            for _ in range(seq - segment.first):
                offset += len(f.readline())
        return offset

    def rewind(self) -> None:
        """Read again from the first unacknowledged record (after a failed send)."""
        with self._lock:
            self.cursor = self.committed

    def commit(self, next_seq: int) -> None:
        """The receiver acknowledged every record before `next_seq`: remember it, drop finished segments."""
        with self._lock:
            if next_seq <= self.committed:
                return
            self.committed = next_seq
            if next_seq in self._read_at:
                self._committed_at = (next_seq, *self._read_at[next_seq])
            self._write_acked()
            self._drop_acked()

    def _write_acked(self) -> None:
        tmp = self.folder / f".{ACKED}.tmp"
        tmp.write_text(f"{self.committed}\n")
        os.replace(tmp, self.folder / ACKED)
        self._dirty = True

    def _drop_acked(self) -> None:
        """Remove segments whose records are all acknowledged (never the one being appended to)."""
        while len(self.segments) > 1 and self.segments[0].end <= self.committed:
            self.segments.pop(0).path.unlink(missing_ok=True)

    # --- durability ---------------------------------------------------------------------------------------------

    def sync_if_due(self) -> None:
        with self._lock:
            if self._dirty and time.monotonic() - self._last_sync >= self.fsync_s:
                self.sync()

    def sync(self) -> None:
        """fsync the active segment and the folder (new segments, the renamed offset)."""
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._last_sync, self._dirty = time.monotonic(), False

    def close(self) -> None:
        with self._lock:
            self.sync()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            os.close(self._lock_fd)

    def stats(self) -> dict:
        """Records waiting, bytes on disk, records dropped at the cap: for the summary and metrics."""
        with self._lock:
            return {"pending": self.pending, "bytes": self.size_bytes, "dropped": self.dropped}
