"""Progress bars for long work (rich, which typer already brings); silent when not on a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int, description: str, enabled: bool = True) -> Iterator[T]:
    """Iterate over `items`, drawing a bar on stderr when enabled and stderr is a terminal."""
    from rich.console import Console
    from rich.progress import track

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield from items
        return
    yield from track(items, total=total, description=description, console=console, transient=True)
