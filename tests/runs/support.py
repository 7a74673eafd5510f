"""What the durable-run tests share: a refund tool that needs approval and counts its
effects, and a runner whose sessions and runs share one database (SQLite, or PostgreSQL too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keel import Agent, Runner, SQLiteRunStore, SQLiteSessionStore, tool
from keel.storage.sqlite import SQLiteDatabase

REFUNDS: list[str] = []
"""Every refund that really ran, in order (cleared before each test by conftest.py)."""


@tool(requires_approval=True)
def refund(order_id: str) -> str:
    """Refund an order."""
    REFUNDS.append(order_id)
    return f"refunded {order_id}"


POSTGRES: list[str] = []
"""The test database's name while a test runs against PostgreSQL (see conftest.py)."""


def durable_runner(path: Path, *agents: Agent[Any], **options: Any) -> Runner:
    """Sessions and runs sharing one database: the SQLite file at `path`, or — under the
    `postgres` backend — a PostgreSQL schema named after `path` (same path, same data)."""
    if POSTGRES:
        from keel.storage.postgres import PostgresDatabase
        from keel.storage.postgres_runs import PostgresRunStore
        from keel.storage.postgres_sessions import PostgresSessionStore
        from tests.pg import schema_url

        pg = PostgresDatabase(schema_url(POSTGRES[0], str(path)))
        sessions, runs = PostgresSessionStore(pg), PostgresRunStore(pg)
        return Runner(session_store=sessions, run_store=runs, agents=agents, **options)
    db = SQLiteDatabase(path)
    return Runner(
        session_store=SQLiteSessionStore(db),
        run_store=SQLiteRunStore(db),
        agents=agents,
        **options,
    )


async def raw_sql(runner: Runner, sql: str, params: tuple[object, ...]) -> list[Any]:
    """Run `sql` (with `?` placeholders) straight on the runner's database, either backend."""
    db: Any = runner.run_store.db  # type: ignore[attr-defined]
    if POSTGRES:
        async with db.transaction() as conn:
            cursor = await conn.execute(sql.replace("?", "%s"), params)
            return await cursor.fetchall() if cursor.description else []
    with db.transaction() as conn:
        return conn.execute(sql, params).fetchall()
