"""Who wrote a temporary file: this host and process, as temporary names record them.

A process id means something only on the host that issued it: on a folder shared by machines (NFS), another
host's live writer looks dead here. Temporary names therefore carry a short tag of the host's name beside
the process id, and only this host's leftovers of dead processes are ever removed.
"""

from __future__ import annotations

import hashlib
import os
import socket
from functools import cache

#: A host tag: the first 8 hex digits of the sha256 of the host name (names may hold any character).
HOST_TAG = r"[0-9a-f]{8}"


@cache
def host_tag() -> str:
    """This host's tag."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def writer_id() -> str:
    """`HOST-PID` of this process, as it goes into temporary names."""
    return f"{host_tag()}-{os.getpid()}"


def writer_gone(host: str, pid: int) -> bool:
    """Whether the writer `host`-`pid` is certainly gone: a process of this host that no longer exists.
    Another host's writer is never presumed gone."""
    return host == host_tag() and not process_alive(pid)


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (this process counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
