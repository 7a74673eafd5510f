"""Runs on one session take turns inside a process; the run store guards across processes.

Two runs of one conversation at once would each answer without the other's turn. Inside
a process the second waits for the first (an `asyncio.Lock` per session); a run in
another process holding the session makes the store refuse with `SessionBusyError`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from weakref import WeakValueDictionary

__all__ = ["HeldLock", "SessionLocks"]


class HeldLock(Protocol):
    """A session's turn, held until the run ends; `release()` is synchronous because the
    run loop calls it in `finally` (an `asyncio.Lock`, or `RedisSessionLocks`' pair)."""

    def release(self) -> None: ...


class SessionLocks:
    def __init__(self) -> None:
        # Weak: a lock lives while some run holds or waits on it, then goes.
        self._locks: WeakValueDictionary[tuple[str, str], asyncio.Lock] = WeakValueDictionary()

    async def acquire(self, tenant_id: str, session_id: str | None) -> HeldLock | None:
        """Wait for the session's turn; release the returned lock when the run ends."""
        if session_id is None:
            return None
        key = (tenant_id, session_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        await lock.acquire()
        return lock
