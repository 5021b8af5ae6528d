"""The one check of a sink's URL flag (`--mqtt`, `--webhook`, `--opcua`): scheme, host and port."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from padim_edge.errors import UserError


def split_url(flag: str, url: str, schemes: tuple[str, ...], form: str) -> tuple[SplitResult, int | None]:
    """`url` split, and its port (None: the scheme's default); one UserError naming `flag`, the URL and the
    expected `form` for an unknown scheme, a missing host or a port outside 1-65535."""
    where = f"{flag} {url}"
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise UserError(f"{where}: unknown scheme {parts.scheme or '(none)'!r} (expected {form})")
    try:
        port = parts.port
    except ValueError:
        raise UserError(f"{where}: bad port (expected 1-65535)") from None
    if port == 0:
        raise UserError(f"{where}: bad port 0 (expected 1-65535)")
    if not parts.hostname:
        raise UserError(f"{where}: no host (expected {form})")
    return parts, port
