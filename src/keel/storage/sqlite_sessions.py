"""`SQLiteSessionStore`: the default `SessionStore`, one file, survives restarts.

Loading keeps turn cost flat in conversation length: the decoded history of recently used
sessions is cached per (tenant, session), and a load reads and validates only the rows
stored after the cached ones. The cache is checked against the session row's
`created_at` (a session cleared and started again — by any process — is a new one), so
it never serves messages the database no longer holds.
"""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from keel.exceptions import SessionError, SessionNotFoundError
from keel.memory.session import check_session_id
from keel.messages import Message, message_to_json, messages_from_json
from keel.principal import DEFAULT_TENANT
from keel.storage.sqlite import SQLiteDatabase

__all__ = ["CacheFill", "SQLiteSessionStore", "Turn"]

CACHED_SESSIONS = 512
"""Decoded histories kept in memory, least recently loaded dropped first."""
CACHED_MESSAGES = 20_000
"""…and at most this many messages in them all: conversations grow, and a cache bounded
by sessions alone grew with them (a 10-minute soak over 500 sessions: +8 MB RSS)."""
CACHED_CHARS = 8_000_000
"""…and at most this many characters of their stored JSON: a message has no size limit
(a tool may return megabytes), so a bound in messages alone is no bound in bytes. The
decoded messages take a small multiple of their JSON's size."""


@dataclass(frozen=True, slots=True)
class CacheFill:
    """What the decoded-history cache holds now, against `CACHED_*`; `evicted` counts the
    histories dropped to stay within them (above zero: the cache has reached its bound)."""

    sessions: int
    messages: int
    chars: int
    evicted: int


@dataclass(slots=True)
class _Cached:
    created_at: float
    last_seq: int
    messages: list[Message] = field(default_factory=list[Message])
    chars: int = 0
    """The length of `messages`' stored JSON."""
    counted: tuple[int, int] = (0, 0)
    """(messages, chars) of this history in the store's running totals."""


class SQLiteSessionStore:
    """Sessions in SQLite. Pass a path (created if missing) or a shared `SQLiteDatabase`."""

    def __init__(self, database: str | Path | SQLiteDatabase) -> None:
        self.db = database if isinstance(database, SQLiteDatabase) else SQLiteDatabase(database)
        self._cache: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self._cached_messages = self._cached_chars = self._evicted = 0

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
                "SELECT created_at FROM sessions WHERE tenant_id = ? AND id = ?", key
            ).fetchone()
            if known is None:
                self._drop(key)
                raise SessionNotFoundError(session_id)
            cached = self._cache.get(key)
            if cached is None or cached.created_at != known[0]:
                cached = _Cached(known[0], 0)
            rows = conn.execute(
                "SELECT seq, message FROM session_messages "
                "WHERE tenant_id = ? AND session_id = ? AND seq > ? ORDER BY seq",
                (*key, cached.last_seq),
            ).fetchall()
        if rows:
            cached.messages.extend(_decode(session_id, rows))
            cached.chars += sum(len(r[1]) for r in rows)
            cached.last_seq = rows[-1][0]
        self._remember(key, cached)
        return list(cached.messages)

    def _remember(self, key: tuple[str, str], cached: _Cached) -> None:
        self._drop(key)
        self._cache[key] = cached  # last: the most recently used
        cached.counted = (len(cached.messages), cached.chars)
        self._cached_messages += cached.counted[0]
        self._cached_chars += cached.counted[1]
        while len(self._cache) > 1 and self._over_bound():  # the newest stays, whatever size
            self._drop(next(iter(self._cache)))
            self._evicted += 1

    def _over_bound(self) -> bool:
        return (
            len(self._cache) > CACHED_SESSIONS
            or self._cached_messages > CACHED_MESSAGES
            or self._cached_chars > CACHED_CHARS
        )

    def _drop(self, key: tuple[str, str]) -> None:
        dropped = self._cache.pop(key, None)
        if dropped is not None:
            self._cached_messages -= dropped.counted[0]
            self._cached_chars -= dropped.counted[1]

    def cache_fill(self) -> CacheFill:
        """The decoded-history cache's fill, for a soak or an operator to see it bounded."""
        return CacheFill(len(self._cache), self._cached_messages, self._cached_chars, self._evicted)

    def forget(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> None:
        """Drop the cached history of a session (after deleting it by other means)."""
        self._drop((tenant_id, session_id))

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
        with self.db.transaction() as conn:
            turn.append(conn)

    async def clear(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> None:
        check_session_id(session_id)
        with self.db.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM sessions WHERE tenant_id = ? AND id = ?", (tenant_id, session_id)
            ).rowcount
            conn.execute(  # its running summaries go with it
                "DELETE FROM memory_summaries WHERE tenant_id = ? AND session_id = ?",
                (tenant_id, session_id),
            )
        self.forget(session_id, tenant_id=tenant_id)
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


@dataclass(frozen=True, slots=True)
class Turn:
    """Messages encoded for one append, ready to write inside any transaction (the run
    store completes a run and stores its turn in one, when both share a database)."""

    tenant_id: str
    session_id: str
    user_id: str | None
    run_id: str | None
    encoded: list[str]
    at: float

    @classmethod
    def of(
        cls,
        session_id: str,
        messages: Sequence[Message],
        *,
        tenant_id: str,
        user_id: str | None,
        run_id: str | None,
    ) -> Turn:
        check_session_id(session_id)
        encoded = [message_to_json(m) for m in messages]  # before any transaction: fail early
        return cls(tenant_id, session_id, user_id, run_id, encoded, time.time())

    def append(self, conn: sqlite3.Connection) -> None:
        if self.run_id is not None and _run_appended(conn, self.tenant_id, self.run_id):
            return  # this run's turn is already stored (a retry after a crash)
        key = (self.tenant_id, self.session_id)
        conn.execute(
            "INSERT INTO sessions (tenant_id, id, user_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(tenant_id, id) DO UPDATE SET "
            "updated_at = excluded.updated_at, user_id = coalesce(user_id, excluded.user_id)",
            (*key, self.user_id, self.at, self.at),
        )
        (last,) = conn.execute(
            "SELECT coalesce(max(seq), 0) FROM session_messages "
            "WHERE tenant_id = ? AND session_id = ?",
            key,
        ).fetchone()
        conn.executemany(
            "INSERT INTO session_messages "
            "(tenant_id, session_id, seq, message, run_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(*key, last + i, m, self.run_id, self.at) for i, m in enumerate(self.encoded, 1)],
        )


def _decode(session_id: str, rows: list[tuple[int, str]]) -> list[Message]:
    try:
        # One validation pass over the rows is faster than one per row.
        return messages_from_json("[" + ",".join(r[1] for r in rows) + "]")
    except ValidationError as exc:
        raise SessionError(f"session {session_id!r} holds corrupt messages: {exc}") from exc


def _run_appended(conn: sqlite3.Connection, tenant_id: str, run_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM session_messages WHERE run_id = ? AND tenant_id = ? LIMIT 1",
        (run_id, tenant_id),
    ).fetchone()
    return row is not None
