"""`PostgresSessionStore`: sessions shared by every process that reaches the database.

An append upserts the session row first; that row lock orders concurrent appends to one
session, in any process, so sequence numbers never collide and a run's turn — checked
under the same lock — is stored once.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from keel.exceptions import SessionError, SessionNotFoundError
from keel.memory.session import check_session_id
from keel.messages import Message, messages_from_json
from keel.principal import DEFAULT_TENANT
from keel.storage.postgres import Conn, PostgresDatabase
from keel.storage.sqlite_sessions import Turn

__all__ = ["PostgresSessionStore", "append_turn"]


class PostgresSessionStore:
    """Sessions in PostgreSQL. Pass a URL or the `PostgresDatabase` the run store uses."""

    def __init__(self, database: str | PostgresDatabase) -> None:
        self.db = database if isinstance(database, PostgresDatabase) else PostgresDatabase(database)

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
            known = await (
                await conn.execute("SELECT 1 FROM sessions WHERE tenant_id = %s AND id = %s", key)
            ).fetchone()
            rows = await (
                await conn.execute(
                    "SELECT message FROM session_messages WHERE tenant_id = %s "
                    "AND session_id = %s ORDER BY seq",
                    key,
                )
            ).fetchall()
        if known is None:
            raise SessionNotFoundError(session_id)
        try:
            return messages_from_json("[" + ",".join(r[0] for r in rows) + "]")
        except ValidationError as exc:
            raise SessionError(f"session {session_id!r} holds corrupt messages: {exc}") from exc

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
            await append_turn(conn, turn)

    async def clear(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> None:
        check_session_id(session_id)
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM sessions WHERE tenant_id = %s AND id = %s", (tenant_id, session_id)
            )
            deleted = cursor.rowcount
        if not deleted:
            raise SessionNotFoundError(session_id)

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


async def append_turn(conn: Conn, turn: Turn) -> None:
    """Write `turn` inside the caller's transaction (the run store completes runs here)."""
    key = (turn.tenant_id, turn.session_id)
    await conn.execute(  # takes the session's row lock until the transaction ends
        "INSERT INTO sessions (tenant_id, id, user_id, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, id) DO UPDATE SET "
        "updated_at = excluded.updated_at, "
        "user_id = coalesce(sessions.user_id, excluded.user_id)",
        (*key, turn.user_id, turn.at, turn.at),
    )
    if turn.run_id is not None:
        seen = await conn.execute(
            "SELECT 1 FROM session_messages WHERE tenant_id = %s AND run_id = %s LIMIT 1",
            (turn.tenant_id, turn.run_id),
        )
        if await seen.fetchone() is not None:
            return  # this run's turn is already stored (a retry after a crash)
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
