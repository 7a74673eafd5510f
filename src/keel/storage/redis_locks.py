"""`RedisSessionLocks`: runs on one session take turns across API processes.

`SessionLocks` orders runs inside one process; with several API processes behind a load
balancer, two messages to one conversation can land on two processes at once. Without
a shared lock the store refuses the second (`SessionBusyError`, a 409 the client must
retry). With Redis configured, the second *waits* for the first, as it would in one
process: a redis-py `Lock` per session (`{prefix}:session:{tenant}:{session}`).

- The in-process lock is taken first, so local waiters queue without polling Redis.
- The Redis lock expires after `timeout_s` if its process dies (a SIGKILL never
  releases it); while a run holds it, a renewal task extends it every third of that, so
  a long run never loses it.
- A run waits at most `wait_s` for the session; then `SessionBusyError` (409).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from keel._run.locks import HeldLock, SessionLocks
from keel.exceptions import MissingExtraError, SessionBusyError

try:
    import redis.asyncio as aioredis
except ImportError as exc:  # pragma: no cover - depends on the install
    raise MissingExtraError("Redis session locks", "redis") from exc

__all__ = ["RedisSessionLocks"]


class RedisSessionLocks(SessionLocks):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "keel",
        timeout_s: float = 30.0,
        wait_s: float = 60.0,
        poll_s: float = 0.01,
    ) -> None:
        super().__init__()
        self.url = url
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.wait_s = wait_s
        self.poll_s = poll_s
        self._client: Any = None  # redis.asyncio.Redis; its stubs are partly untyped
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aioredis.Redis.from_url(self.url)  # pyright: ignore[reportUnknownMemberType]
        return self._client

    def key(self, tenant_id: str, session_id: str) -> str:
        return f"{self.prefix}:session:{tenant_id}:{session_id}"

    async def acquire(self, tenant_id: str, session_id: str | None) -> HeldLock | None:
        """Wait for the session's turn here, then across processes (up to `wait_s`)."""
        local = await super().acquire(tenant_id, session_id)
        if local is None or session_id is None:
            return local
        shared = self.client.lock(
            self.key(tenant_id, session_id),
            timeout=self.timeout_s,
            sleep=self.poll_s,
            blocking_timeout=self.wait_s,
        )
        try:
            held = await shared.acquire()
        except BaseException:
            local.release()
            raise
        if not held:
            local.release()
            raise SessionBusyError(session_id, "(a run in another process)")
        return _Held(local, shared, self)

    def track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Let pending releases finish, then close the connection pool."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class _Held:
    """The in-process lock, holding the Redis lock too until `release()`.

    `release()` stays synchronous (the run loop calls it in `finally`): it stops the
    renewal and frees Redis in a task, and frees the local lock only after Redis, so the
    next local waiter never polls a lock this process still holds.
    """

    def __init__(self, local: HeldLock, shared: Any, owner: RedisSessionLocks) -> None:
        self._local = local
        self._shared = shared
        self._owner = owner
        self._renewal = asyncio.create_task(self._renew())
        owner.track(self._renewal)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._owner.timeout_s / 3)
            await self._shared.reacquire()

    def release(self) -> None:
        self._renewal.cancel()
        self._owner.track(asyncio.create_task(self._free()))

    async def _free(self) -> None:
        try:
            with contextlib.suppress(Exception):  # expired or lost: nothing left to free
                await self._shared.release()
        finally:
            self._local.release()
