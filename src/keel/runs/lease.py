"""Who owns a running run: this process, identified as `host:pid:token`.

A run being executed is owned by one process and leased until a time; the lease is
renewed at every checkpoint. Another process may take the run over (resume it) only when
the owner is gone: on the same host its pid no longer exists, elsewhere its lease expired.
The token tells a restarted process that reuses a pid from the one that died.
"""

from __future__ import annotations

import os
import socket
from functools import cache

__all__ = ["LEASE_SECONDS", "owner_alive", "this_owner"]

LEASE_SECONDS = 600.0
"""How long a checkpoint keeps a run claimed when its owner's liveness cannot be checked."""


@cache
def this_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def owner_alive(owner: str | None, lease_until: float | None, now: float) -> bool:
    """Whether the owner of a running run may still be working on it."""
    if not owner:
        return False
    if owner == this_owner():
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        pid = int(pid_text)
        # Our own pid under another token: an earlier process that died, its pid reused.
        return pid != os.getpid() and _pid_exists(pid)
    return lease_until is not None and lease_until > now


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
