"""Where the tests look for the MVTec AD copy (imported by conftest and by the test of this lookup)."""

from __future__ import annotations

from pathlib import Path


def mvtec_candidates(repository: Path, environ: dict[str, str]) -> list[Path]:
    """Where the MVTec AD copy may be: $PADIM_EDGE_MVTEC, else `shared/data/mvtec` beside the repository or
    beside any folder above it, the repository's path taken both as the shell sees it ($PWD, symlinks kept)
    and resolved (a clone reached through a symlink has its `shared/` beside the link, not the target)."""
    if environ.get("PADIM_EDGE_MVTEC"):
        return [Path(environ["PADIM_EDGE_MVTEC"])]
    roots = [repository, repository.resolve(), Path(environ.get("PWD", repository))]
    return list(dict.fromkeys(f / "shared" / "data" / "mvtec" for root in roots for f in [root, *root.parents]))
