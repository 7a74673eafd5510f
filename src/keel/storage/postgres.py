"""The PostgreSQL database the Postgres stores share: a connection pool, migrations.

For many processes on many machines (`keel serve` replicas, workers). psycopg 3 async
with a pool; the pool belongs to one event loop, so a database used from a new loop (a
CLI command, a test) opens a pool for it. Migrations are the numbered files under
`migrations/postgres/`, applied once each under an advisory lock, so replicas starting
together migrate one at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any, LiteralString

from keel.exceptions import MissingExtraError
from keel.storage.migrations import load_migrations, split_statements

try:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool
except ImportError as exc:  # pragma: no cover - depends on the install
    raise MissingExtraError("PostgreSQL stores", "postgres") from exc

__all__ = ["PostgresDatabase", "migrate_blocking", "session_lock"]

_MIGRATION_LOCK = 0x6B65656C  # "keel": one advisory lock id for migrating
Conn = AsyncConnection[Any]


class PostgresDatabase:
    """A `postgresql://` URL, migrated on first use; `transaction()` hands out connections."""

    def __init__(self, url: str, *, max_size: int = 10) -> None:
        self.url = url
        self.max_size = max_size
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._migrated = False

    @asynccontextmanager
    async def transaction(self) -> AsyncGenerator[Conn]:
        """One transaction: all of it commits, or none of it does."""
        pool = await self._ready()
        async with pool.connection() as conn, conn.transaction():
            yield conn

    async def _ready(self) -> AsyncConnectionPool[Conn]:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
                self.url, min_size=1, max_size=self.max_size, open=False
            )
            await pool.open(wait=True, timeout=10)
            self._pool, self._loop = pool, loop
        if not self._migrated:
            await self.migrate()
        return self._pool

    async def migrate(self) -> None:
        """Apply every shipped migration not applied yet."""
        pool = self._pool
        assert pool is not None
        async with pool.connection() as conn, conn.transaction():
            for statement in _MIGRATION_START:
                await conn.execute(statement, (_MIGRATION_LOCK,) if "%s" in statement else None)
            rows = await (await conn.execute("SELECT version FROM keel_schema")).fetchall()
            for sql, params in _migration_steps({r[0] for r in rows}):
                await conn.execute(sql, params)
        self._migrated = True

    async def schema_version(self) -> int:
        async with self.transaction() as conn:
            row = await (await conn.execute("SELECT max(version) FROM keel_schema")).fetchone()
        return int(row[0] or 0) if row else 0

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


_MIGRATION_START: tuple[LiteralString, ...] = (
    "SELECT pg_advisory_xact_lock(%s)",
    "CREATE TABLE IF NOT EXISTS keel_schema (version INTEGER PRIMARY KEY, "
    "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)",
)


def _migration_steps(done: set[int]) -> list[tuple[bytes, tuple[object, ...] | None]]:
    """The statements of every migration not in `done`, each followed by its record."""
    steps: list[tuple[bytes, tuple[object, ...] | None]] = []
    for migration in load_migrations("postgres"):
        if migration.version not in done:
            steps += [(s.encode(), None) for s in split_statements(migration.sql)]
            steps.append((
                b"INSERT INTO keel_schema (version, name, applied_at) VALUES (%s, %s, %s)",
                (migration.version, migration.name, time.time()),
            ))  # fmt: skip
    return steps


def migrate_blocking(url: str) -> None:
    """`PostgresDatabase.migrate` for stores that use plain (blocking) connections."""
    import psycopg

    with psycopg.connect(url) as conn, conn.transaction():
        for statement in _MIGRATION_START:
            conn.execute(statement, (_MIGRATION_LOCK,) if "%s" in statement else None)
        done = {r[0] for r in conn.execute("SELECT version FROM keel_schema").fetchall()}
        for sql, params in _migration_steps(done):
            conn.execute(sql, params)


async def session_lock(conn: Conn, tenant_id: str, session_id: str) -> None:
    """Serialize, until the transaction ends, everything that starts runs on a session."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{tenant_id}/{session_id}",)
    )
