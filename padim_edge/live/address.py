"""`--http HOST:PORT`: where the live server listens."""

from __future__ import annotations

import re

from padim_edge.errors import UserError

DEFAULT_HOST = "127.0.0.1"  # loopback unless an address is given: the page shows the line's parts
_ADDRESS = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]*)):(?P<port>[^:]*)$")


def parse_address(text: str) -> tuple[str, int]:
    """(host, port) from `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT`; the host defaults to 127.0.0.1.
    Port 0 picks a free port (the URL is printed)."""
    match = _ADDRESS.match(text if ":" in text else f":{text}")
    if not match:
        raise UserError(f"--http {text}: expected HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)")
    host = match["v6"] or match["host"] or DEFAULT_HOST
    port = match["port"]
    if not port.isdigit() or int(port) > 65535:
        raise UserError(f"--http {text}: the port must be a number from 0 to 65535")
    return host, int(port)
