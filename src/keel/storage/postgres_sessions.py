"""`PostgresSessionStore`: sessions shared by every process that reaches the database.

An append upserts the session row first; that row lock orders concurrent appends to one
session, in any process, so sequence numbers never collide and a run's turn — checked
under the same lock — is stored once. With a `RedisSessionCache` (`cache=`), a load
reads the session's version here and its history from Redis when Redis holds that
version (see `keel.storage.redis_sessions` for why that stays correct).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from keel.exceptions import SessionError, SessionNotFoundError
from keel.memory.session import check_session_id
from keel.messages import Message, messages_from_json
from keel.principal import DEFAULT_TENANT
from keel.storage.postgres import Conn, PostgresDatabase
from keel.storage.sqlite_sessions import Turn

if TYPE_CHECKING:
    from keel.storage.redis_sessions import RedisSessionCache

__all__ = ["Appended", "PostgresSessionStore", "append_turn"]

_VERSION = (
    "SELECT s.created_at, (SELECT coalesce(max(seq), 0) FROM session_messages m "
    "WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id) "
    "FROM sessions s WHERE s.tenant_id = %s AND s.id = %s"
)


@dataclass(frozen=True, slots=True)
class Appended:
    """What a committed append changed, for the cache's write-through."""

    tenant_id: str
    session_id: str
    created_at: float
    last_before: int
    encoded: list[str]


class PostgresSessionStore:
    """Sessions in PostgreSQL. Pass a URL or the `PostgresDatabase` the run store uses."""

    def __init__(
        self, database: str | PostgresDatabase, *, cache: RedisSessionCache | None = None
    ) -> None:
        self.db = database if isinstance(database, PostgresDatabase) else PostgresDatabase(database)
        self.cache = cache

    async def exists(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> bool:
        check_session_id(session_id)
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "SELECT 1 FROM sessions WHERE tenant_id = %s AND id = %s", (tenant_id, session_id)
            )
            return await cursor.fetchone() is not None

    async def load(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> list[Message]:
        check_session_id(session_id)
        key = (tenant_id, session_id)
        async with self.db.transaction() as conn:
            version = await (await conn.execute(_VERSION, key)).fetchone()
            if version is None:
                raise SessionNotFoundError(session_id)
            count = int(version[1])
            cache = self.cache if self.cache is not None and self.cache.worth(count) else None
            tag = _tag(float(version[0]), count)
            if cache is not None and (hit := await _cached(cache, key, tag)) is not None:
                return hit
            rows = await (
                await conn.execute(
                    "SELECT message FROM session_messages WHERE tenant_id = %s "
                    "AND session_id = %s ORDER BY seq",
                    key,
                )
            ).fetchall()
        encoded = [r[0] for r in rows]
        messages = _decode(session_id, "[" + ",".join(encoded) + "]")
        if cache is not None:
            await cache.fill(tenant_id, session_id, tag, encoded)
        return messages

    async def append(
        self,
        session_id: str,
        messages: Sequence[Message],
        *,
        tenant_id: str = DEFAULT_TENANT,
        user_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        turn = Turn.of(session_id, messages, tenant_id=tenant_id, user_id=user_id, run_id=run_id)
        async with self.db.transaction() as conn:
            appended = await append_turn(conn, turn)
        await self.written(appended)

    async def written(self, appended: Appended | None) -> None:
        """After the append's transaction commits: write it through to the cache."""
        if appended is None or self.cache is None:
            return
        a = appended
        if not self.cache.worth(a.last_before + len(a.encoded)):
            return
        before = _tag(a.created_at, a.last_before) if a.last_before else None
        after = _tag(a.created_at, a.last_before + len(a.encoded))
        await self.cache.append(a.tenant_id, a.session_id, before, after, a.encoded)

    async def clear(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> None:
        check_session_id(session_id)
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM sessions WHERE tenant_id = %s AND id = %s", (tenant_id, session_id)
            )
            deleted = cursor.rowcount
        if self.cache is not None:
            await self.cache.drop([(tenant_id, session_id)])
        if not deleted:
            raise SessionNotFoundError(session_id)

    async def cached_sessions(
        self, where: str, params: tuple[object, ...]
    ) -> list[tuple[str, str]]:
        """(tenant, id) of the sessions `where` selects, when a cache may hold them: read
        before a deletion (a user's, retention's) so `forget` can drop them after it."""
        if self.cache is None:
            return []
        async with self.db.transaction() as conn:
            cursor = await conn.execute(  # where: a constant of Keel's, never user text
                f"SELECT tenant_id, id FROM sessions WHERE {where}",  # pyright: ignore[reportArgumentType]
                params,
            )
            return [(str(t), str(i)) for t, i in await cursor.fetchall()]

    async def forget(self, ids: list[tuple[str, str]]) -> None:
        """Drop deleted sessions' histories from the cache (a load would refuse them, but
        deleted data should not wait for its TTL in Redis)."""
        if self.cache is not None and ids:
            await self.cache.drop(ids)

    async def list_ids(self, *, tenant_id: str = DEFAULT_TENANT, limit: int = 100) -> list[str]:
        async with self.db.transaction() as conn:
            rows = await (
                await conn.execute(
                    "SELECT id FROM sessions WHERE tenant_id = %s "
                    "ORDER BY updated_at DESC, id LIMIT %s",
                    (tenant_id, limit),
                )
            ).fetchall()
        return [r[0] for r in rows]


async def append_turn(conn: Conn, turn: Turn) -> Appended | None:
    """Write `turn` inside the caller's transaction (the run store completes runs here);
    None when this run's turn was stored before."""
    key = (turn.tenant_id, turn.session_id)
    created = await (
        await conn.execute(  # takes the session's row lock until the transaction ends
            "INSERT INTO sessions (tenant_id, id, user_id, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, id) DO UPDATE SET "
            "updated_at = excluded.updated_at, "
            "user_id = coalesce(sessions.user_id, excluded.user_id) RETURNING created_at",
            (*key, turn.user_id, turn.at, turn.at),
        )
    ).fetchone()
    if turn.run_id is not None:
        seen = await conn.execute(
            "SELECT 1 FROM session_messages WHERE tenant_id = %s AND run_id = %s LIMIT 1",
            (turn.tenant_id, turn.run_id),
        )
        if await seen.fetchone() is not None:
            return None  # this run's turn is already stored (a retry after a crash)
    row = await (
        await conn.execute(
            "SELECT coalesce(max(seq), 0) FROM session_messages "
            "WHERE tenant_id = %s AND session_id = %s",
            key,
        )
    ).fetchone()
    last = int(row[0]) if row else 0
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO session_messages "
            "(tenant_id, session_id, seq, message, run_id, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(*key, last + i, m, turn.run_id, turn.at) for i, m in enumerate(turn.encoded, 1)],
        )
    at = float(created[0]) if created else turn.at
    return Appended(turn.tenant_id, turn.session_id, at, last, turn.encoded)


async def _cached(cache: RedisSessionCache, key: tuple[str, str], tag: str) -> list[Message] | None:
    blob = await cache.get(*key, tag)
    if blob is None:
        return None
    try:
        return messages_from_json(b"[" + blob + b"]")
    except ValidationError:  # a damaged entry: PostgreSQL has the truth
        return None


def _tag(created_at: float, last_seq: int) -> str:
    """The session's version: its row's creation time and its last message's number."""
    return f"{created_at!r}/{last_seq}"


def _decode(session_id: str, data: str) -> list[Message]:
    try:
        return messages_from_json(data)
    except ValidationError as exc:
        raise SessionError(f"session {session_id!r} holds corrupt messages: {exc}") from exc
