"""Memory on PostgreSQL: user facts (`PostgresUserMemory`) and session summaries
(`PostgresSummaryStore`), and deleting a user's rows or old ones from them and from the
sessions and runs (`delete_user_postgres`, `apply_retention_postgres`), for an `App`
whose database is a `postgresql://` URL, so its replicas share them. Tables from migration
0081; the logic and SQL are the SQLite stores' own (`FactMemory`, `summary.LATEST` /
`PUT`, `retention.user_deletions` / `expired`), only the connection differs.

`UserMemory`'s API is blocking (tools call it through `asyncio.to_thread`), so the facts
use a small blocking connection pool; summaries use the app's async `PostgresDatabase`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from keel.embeddings.base import Embedder
from keel.exceptions import ConfigurationError
from keel.memory.retention import DeletionReport, RetentionPolicy, expired, user_deletions
from keel.memory.summary import (
    LATEST,
    PUT,
    StoredSummary,
    SummaryKey,
    latest_params,
    put_params,
    stored,
)
from keel.memory.user import FactMemory, Write
from keel.principal import Principal
from keel.storage.postgres import PostgresDatabase, migrate_blocking

__all__ = [
    "PostgresSummaryStore",
    "PostgresUserMemory",
    "apply_retention_postgres",
    "delete_user_postgres",
    "to_postgres",
]


def to_postgres(sql: str) -> bytes:
    """A statement written with `?` placeholders, with psycopg's `%s` instead."""
    return sql.replace("?", "%s").encode()


class PostgresUserMemory(FactMemory):
    """User facts in PostgreSQL (`memory_facts`). Pass a URL or the app's database."""

    def __init__(
        self,
        database: str | PostgresDatabase,
        embedder: Embedder | None = None,
        *,
        clock: Callable[[], float] = time.time,
        same_fact: float = 0.92,
        half_life_days: float = 30.0,
        max_connections: int = 4,
    ) -> None:
        from psycopg_pool import ConnectionPool

        super().__init__(embedder, clock=clock, same_fact=same_fact, half_life_days=half_life_days)
        url = database.url if isinstance(database, PostgresDatabase) else database
        migrate_blocking(url)
        self._pool: Any = ConnectionPool(url, min_size=1, max_size=max_connections, open=True)

    def _read(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        with self._pool.connection() as conn:
            return conn.execute(to_postgres(sql), params).fetchall()

    def _write(self, writes: Sequence[Write]) -> list[int]:
        with self._pool.connection() as conn, conn.transaction():
            return [conn.execute(to_postgres(sql), params).rowcount for sql, params in writes]

    def close(self) -> None:
        self._pool.close()


class PostgresSummaryStore:
    """Session summaries in PostgreSQL (`memory_summaries`)."""

    def __init__(self, database: str | PostgresDatabase) -> None:
        self.db = database if isinstance(database, PostgresDatabase) else PostgresDatabase(database)

    async def latest(self, key: SummaryKey, *, at_most: int) -> list[StoredSummary]:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(to_postgres(LATEST), latest_params(key, at_most))
            return stored(await cursor.fetchall())

    async def put(self, key: SummaryKey, summary: StoredSummary, *, user_id: str | None) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(to_postgres(PUT), put_params(key, summary, user_id))


async def delete_user_postgres(db: PostgresDatabase, principal: Principal) -> DeletionReport:
    """`delete_user` for the stores an app keeps in PostgreSQL: the user's sessions with
    their messages and summaries, runs, and memory facts, in one transaction."""
    if principal.user_id is None:
        raise ConfigurationError("delete_user needs a principal with a user_id")
    steps = user_deletions(principal.tenant_id, principal.user_id)
    return DeletionReport(principal.tenant_id, principal.user_id, await _run(db, steps))


async def apply_retention_postgres(
    db: PostgresDatabase, policy: RetentionPolicy, *, now: float | None = None
) -> dict[str, int]:
    """`apply_retention` for the stores an app keeps in PostgreSQL."""
    return await _run(db, expired(policy, now))


async def _run(
    db: PostgresDatabase, steps: Sequence[tuple[str, str, Sequence[object]]]
) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with db.transaction() as conn:
        for table, sql, params in steps:
            counts[table] = (await conn.execute(to_postgres(sql), params)).rowcount
    return counts
