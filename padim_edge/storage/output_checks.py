"""Output checks made before any work starts: a flag naming a file or folder that cannot be written fails in
one line at once, not after minutes of fitting or inference."""

from __future__ import annotations

import tempfile
from pathlib import Path

from padim_edge.errors import UserError


def check_output_file(path: Path, flag: str) -> Path:
    """Fail now, in one line, if `path` cannot later be written as a file (parents are created)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a folder, expected a file path")
    _check_writable_folder(path.parent, flag, path)
    return path


def check_output_folder(path: Path, flag: str, shown: Path | None = None) -> Path:
    """Fail now, in one line, if files cannot later be written into folder `path` (it is created); the
    message names `shown` (default `path`), what the user typed."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        where = f"{path} " if shown else ""
        raise UserError(f"{flag} {shown or path}: {where}exists and is not a folder")
    _check_writable_folder(path, flag, shown or path)
    return path


def _check_writable_folder(folder: Path, flag: str, shown: Path) -> None:
    """Create `folder` if needed and prove it writable by creating a file in it (os.access is wrong for
    root and for read-only mounts alike)."""
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{flag} {shown}: {parent} is not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UserError(f"{flag} {shown}: cannot write there ({exc.strerror or exc})") from None
