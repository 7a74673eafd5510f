"""`SQLiteSessionStore`: the default `SessionStore`, one file, survives restarts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from keel.exceptions import SessionError, SessionNotFoundError
from keel.memory.session import check_session_id
from keel.messages import Message, message_to_json, messages_from_json
from keel.storage.sqlite import SQLiteDatabase

__all__ = ["SQLiteSessionStore"]


class SQLiteSessionStore:
    """Sessions in SQLite. Pass a path (created if missing) or a shared `SQLiteDatabase`."""

    def __init__(self, database: str | Path | SQLiteDatabase) -> None:
        self.db = database if isinstance(database, SQLiteDatabase) else SQLiteDatabase(database)

    async def exists(self, session_id: str) -> bool:
        check_session_id(session_id)
        with self.db.reading() as conn:
            row = conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return row is not None

    async def load(self, session_id: str) -> list[Message]:
        check_session_id(session_id)
        with self.db.reading() as conn:
            known = conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
            rows = conn.execute(
                "SELECT message FROM session_messages WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
        if known is None:
            raise SessionNotFoundError(session_id)
        try:
            # One validation pass over the whole history is faster than one per row.
            return messages_from_json("[" + ",".join(r[0] for r in rows) + "]")
        except ValidationError as exc:
            raise SessionError(f"session {session_id!r} holds corrupt messages: {exc}") from exc

    async def append(self, session_id: str, messages: Sequence[Message]) -> None:
        check_session_id(session_id)
        encoded = [message_to_json(m) for m in messages]  # before the transaction: fail early
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO sessions (id, created_at, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at",
                (session_id, now, now),
            )
            (last,) = conn.execute(
                "SELECT coalesce(max(seq), 0) FROM session_messages WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            conn.executemany(
                "INSERT INTO session_messages (session_id, seq, message, created_at) "
                "VALUES (?, ?, ?, ?)",
                [(session_id, last + i, m, now) for i, m in enumerate(encoded, start=1)],
            )

    async def clear(self, session_id: str) -> None:
        check_session_id(session_id)
        with self.db.transaction() as conn:
            deleted = conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount
        if not deleted:
            raise SessionNotFoundError(session_id)

    async def list_ids(self, *, limit: int = 100) -> list[str]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT id FROM sessions ORDER BY updated_at DESC, id LIMIT ?", (limit,)
            ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.db.close()
