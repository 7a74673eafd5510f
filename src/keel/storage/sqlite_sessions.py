"""`SQLiteSessionStore`: the default `SessionStore`, one file, survives restarts."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from keel.exceptions import SessionError, SessionNotFoundError
from keel.memory.session import check_session_id
from keel.messages import Message, message_to_json, messages_from_json
from keel.principal import DEFAULT_TENANT
from keel.storage.sqlite import SQLiteDatabase

__all__ = ["SQLiteSessionStore"]


class SQLiteSessionStore:
    """Sessions in SQLite. Pass a path (created if missing) or a shared `SQLiteDatabase`."""

    def __init__(self, database: str | Path | SQLiteDatabase) -> None:
        self.db = database if isinstance(database, SQLiteDatabase) else SQLiteDatabase(database)

    async def exists(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> bool:
        check_session_id(session_id)
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT 1 FROM sessions WHERE tenant_id = ? AND id = ?", (tenant_id, session_id)
            ).fetchone()
        return row is not None

    async def load(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> list[Message]:
        check_session_id(session_id)
        key = (tenant_id, session_id)
        with self.db.reading() as conn:
            known = conn.execute(
                "SELECT 1 FROM sessions WHERE tenant_id = ? AND id = ?", key
            ).fetchone()
            rows = conn.execute(
                "SELECT message FROM session_messages WHERE tenant_id = ? AND session_id = ? "
                "ORDER BY seq",
                key,
            ).fetchall()
        if known is None:
            raise SessionNotFoundError(session_id)
        try:
            # One validation pass over the whole history is faster than one per row.
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
        check_session_id(session_id)
        encoded = [message_to_json(m) for m in messages]  # before the transaction: fail early
        now = time.time()
        with self.db.transaction() as conn:
            if run_id is not None and _run_appended(conn, tenant_id, run_id):
                return  # this run's turn is already stored (a retry after a crash)
            conn.execute(
                "INSERT INTO sessions (tenant_id, id, user_id, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(tenant_id, id) DO UPDATE SET "
                "updated_at = excluded.updated_at, user_id = coalesce(user_id, excluded.user_id)",
                (tenant_id, session_id, user_id, now, now),
            )
            (last,) = conn.execute(
                "SELECT coalesce(max(seq), 0) FROM session_messages "
                "WHERE tenant_id = ? AND session_id = ?",
                (tenant_id, session_id),
            ).fetchone()
            conn.executemany(
                "INSERT INTO session_messages "
                "(tenant_id, session_id, seq, message, run_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (tenant_id, session_id, last + i, m, run_id, now)
                    for i, m in enumerate(encoded, start=1)
                ],
            )

    async def clear(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> None:
        check_session_id(session_id)
        with self.db.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM sessions WHERE tenant_id = ? AND id = ?", (tenant_id, session_id)
            ).rowcount
        if not deleted:
            raise SessionNotFoundError(session_id)

    async def list_ids(self, *, tenant_id: str = DEFAULT_TENANT, limit: int = 100) -> list[str]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT id FROM sessions WHERE tenant_id = ? ORDER BY updated_at DESC, id LIMIT ?",
                (tenant_id, limit),
            ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.db.close()


def _run_appended(conn: sqlite3.Connection, tenant_id: str, run_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM session_messages WHERE run_id = ? AND tenant_id = ? LIMIT 1",
        (run_id, tenant_id),
    ).fetchone()
    return row is not None
