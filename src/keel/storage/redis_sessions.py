"""`RedisSessionCache`: a PostgreSQL session's history, served from Redis.

Why: every turn of a conversation reads its whole history back, and from PostgreSQL
that is one row per message, each built into a Python tuple by psycopg. Redis keeps it
as one string — the messages' stored JSON joined by commas — so a turn reads one value
and decodes it in one pass.

Correctness does not depend on every writer remembering the cache. An entry is tagged
with the session's *version*: its row's `created_at` and its last message's `seq`, which
`PostgresSessionStore.load` reads from PostgreSQL on every load (one indexed lookup). An
entry at another version is a miss: read from PostgreSQL and cached again. A deleted
session has no row (not found, whatever Redis holds); a session deleted and started
again has a new `created_at`. Deleting a user, retention and `clear` also drop the
entries they delete, so Redis does not keep their words until the TTL.

- Write-through: after a turn commits, its messages are appended to the entry if the
  entry is at the version the turn started from (atomic, in a Lua script); else the
  entry is dropped, and the next load fills it.
- Bounded: an entry expires `ttl_s` after its last use, and a history longer than
  `max_bytes` is not cached (it is dropped when an append takes it past).
- Only long histories: below `min_messages` PostgreSQL reads them as fast as Redis, and
  the cache's extra round trips cost more than they save (`benchmarks/session_cache.py`).
- Redis unreachable: a load is a miss and a write is skipped (logged); PostgreSQL
  serves, and the versions keep whatever Redis held from being served stale later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from keel.exceptions import MissingExtraError

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the install
    raise MissingExtraError("the Redis session cache", "redis") from exc

if TYPE_CHECKING:
    from keel.app import App

__all__ = ["RedisSessionCache", "cache_sessions"]

_log = logging.getLogger(__name__)
T = TypeVar("T")

_READ = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return redis.call('GET', KEYS[2])
"""
# ARGV: version before, version after, messages (comma-led unless first), ttl, max bytes
_APPEND = """
if ARGV[1] ~= '' and (redis.call('GET', KEYS[1]) ~= ARGV[1]
    or redis.call('EXISTS', KEYS[2]) == 0) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 0
end
if ARGV[1] == '' then redis.call('SET', KEYS[2], ARGV[3]) else
  redis.call('APPEND', KEYS[2], ARGV[3]) end
if redis.call('STRLEN', KEYS[2]) > tonumber(ARGV[5]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""


class RedisSessionCache:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "keel",
        ttl_s: int = 3600,
        max_bytes: int = 4_000_000,
        min_messages: int = 500,
    ) -> None:
        self.url, self.prefix, self.ttl_s, self.max_bytes = url, prefix, ttl_s, max_bytes
        self.min_messages = min_messages
        self._client: Any = None  # redis.asyncio.Redis; its stubs are partly untyped
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: tuple[Any, Any] = (None, None)

    def _redis(self) -> tuple[Any, Any, Any]:
        """The client and scripts of the running loop (a client belongs to one loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aioredis.Redis.from_url(self.url)  # pyright: ignore[reportUnknownMemberType]
            self._loop = loop
            self._scripts = (
                self._client.register_script(_READ),
                self._client.register_script(_APPEND),
            )
        return self._client, *self._scripts

    def worth(self, messages: int) -> bool:
        """Whether a history of this many messages is read from and written to Redis."""
        return messages >= self.min_messages

    def keys(self, tenant_id: str, session_id: str) -> list[str]:
        """The version and the messages; one hash tag, so one cluster slot."""
        base = f"{self.prefix}:history:{{{tenant_id}/{session_id}}}"
        return [f"{base}:v", f"{base}:m"]

    async def get(self, tenant_id: str, session_id: str, version: str) -> bytes | None:
        """The cached messages (JSON joined by commas) if the entry is at `version`."""
        _, read, _ = self._redis()
        keys = self.keys(tenant_id, session_id)
        return await _quietly(lambda: read(keys=keys, args=[version, self.ttl_s]), None)

    async def fill(self, tenant_id: str, session_id: str, version: str, encoded: list[str]) -> None:
        """Cache a history just read from PostgreSQL at `version`."""
        blob = ",".join(encoded)
        if len(blob) > self.max_bytes:
            return
        client, _, _ = self._redis()
        v, m = self.keys(tenant_id, session_id)
        pipe = client.pipeline(transaction=True)
        pipe.set(m, blob, ex=self.ttl_s)
        pipe.set(v, version, ex=self.ttl_s)
        await _quietly(pipe.execute, None)

    async def append(
        self, tenant_id: str, session_id: str, before: str | None, after: str, encoded: list[str]
    ) -> None:
        """Write a committed turn through; `before` None: the session had no messages."""
        chunk = ("," if before is not None else "") + ",".join(encoded)
        _, _, append = self._redis()
        keys = self.keys(tenant_id, session_id)
        args = [before or "", after, chunk, self.ttl_s, self.max_bytes]
        await _quietly(lambda: append(keys=keys, args=args), None)

    async def drop(self, entries: Iterable[tuple[str, str]]) -> None:
        """Forget these (tenant, session) histories (deleted from PostgreSQL)."""
        keys = [k for tenant, session in entries for k in self.keys(tenant, session)]
        if keys:
            client, _, _ = self._redis()
            await _quietly(lambda: client.delete(*keys), None)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _quietly(call: Callable[[], Awaitable[T]], fallback: T) -> T:
    """Redis is a cache here: when it fails, PostgreSQL serves (see the module doc)."""
    try:
        return await call()
    except (RedisError, OSError) as exc:
        _log.warning("Redis session cache skipped: %s", exc)
        return fallback


def cache_sessions(app: App, url: str) -> RedisSessionCache | None:
    """Serve a PostgreSQL app's session histories from Redis at `url` (`keel serve` and
    `keel worker` with `stores.redis_url`); the SQLite store keeps its own in-process."""
    if app.database_url is None:
        return None
    from keel.storage.postgres_sessions import PostgresSessionStore

    store = app.session_store
    if not isinstance(store, PostgresSessionStore):
        return None
    if store.cache is None:
        store.cache = RedisSessionCache(url)
    return store.cache
