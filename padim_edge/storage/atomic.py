"""Atomic file and folder updates, stale staging clean-up, hashing.

Every artifact is written to a temporary sibling and renamed into place, so a reader (or a process killed
half-way) never sees half a file. A run folder is staged whole and swapped in with one rename. Temporary
names carry the writer's host and process id (`storage.writer_id`): leftovers of a killed process of this
host are removed by the next writer; another host's are never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from padim_edge.errors import UserError
from padim_edge.storage.writer_id import HOST_TAG, writer_gone, writer_id

# .NAME.HOST-PID.RANDOM.tmp (files) and .NAME.staging-HOST-PID-RANDOM (folders): what `clean_stale` may remove.
STAGING = "staging"
_STALE = re.compile(
    rf"^\..+\.(?:(?P<ha>{HOST_TAG})-(?P<a>\d+)\.[0-9a-f]+\.tmp|staging-(?P<hb>{HOST_TAG})-(?P<b>\d+)-[0-9a-z_]+)$"
)


def staging_prefix(path: Path) -> str:
    """The name prefix of a staging folder for `path` (tempfile adds the random part)."""
    return f".{path.name}.{STAGING}-{writer_id()}-"


def _temp_name(path: Path, kind: str) -> Path:
    token = secrets.token_hex(4)
    if kind == "file":
        return path.with_name(f".{path.name}.{writer_id()}.{token}.tmp")
    return path.with_name(staging_prefix(path) + token)


def atomic_write(path: Path, data: bytes | str | memoryview) -> None:
    """Write a file through a temporary sibling, flushed to disk, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path, "file")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside `target`; when the block succeeds it replaces `target` whole.

    The swap is one `renameat2(RENAME_EXCHANGE)` on Linux: at every instant `target` is either the old
    folder or the new one. If the block fails, or the process dies, the staging folder is discarded
    (now, or by the next writer's `clean_stale`) and `target` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target.parent)
    stage = _temp_name(target, "folder")
    stage.mkdir()
    try:
        yield stage
        if target.exists() and not target.is_dir():
            raise UserError(f"{target}: exists and is not a folder")
        fsync_folder(stage)
        if target.exists():
            _exchange(stage, target)  # stage now holds the old folder
            fsync_folder(target.parent)
            shutil.rmtree(stage, ignore_errors=True)
        else:
            os.rename(stage, target)
            fsync_folder(target.parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux renameat2 with RENAME_EXCHANGE; glibc >= 2.28).

    Python's os module has no renameat2, hence ctypes. Where it is missing, fall back to two renames:
    a process killed between them leaves the old folder under a staging name and no target, which
    `clean_stale` cannot tell from an abandoned stage, so the window is documented, not hidden.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    rename_exchange, at_fdcwd = 2, -100
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
        if ctypes.get_errno() not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(b))
    old = _temp_name(b, "folder")
    os.rename(b, old)
    os.rename(a, b)
    os.rename(old, a)


def clean_stale(folder: Path) -> list[Path]:
    """Remove the temporary files and staging folders in `folder` whose writer, a process of this host, is
    gone (another host's are kept: its process ids mean nothing here)."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _STALE.match(entry.name)
        if match is None or not writer_gone(
            match.group("ha") or match.group("hb"), int(match.group("a") or match.group("b"))
        ):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
