"""PostgreSQL stores across processes: ordering, exactly-once turns, migrations, the App."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg

from keel import Agent, App, Message
from keel.storage.migrations import load_migrations
from keel.storage.postgres import PostgresDatabase
from keel.storage.postgres_sessions import PostgresSessionStore
from keel.testing import ScriptedModel
from tests.pg import pg_database, schema_url

__all__ = ["pg_database"]


async def test_concurrent_appends_from_two_pools_keep_every_message_in_order(
    pg_database: str, tmp_path: Path
) -> None:
    url = schema_url(pg_database, str(tmp_path))
    one, two = PostgresSessionStore(url), PostgresSessionStore(url)  # two "processes"

    async def writer(store: PostgresSessionStore, name: str) -> None:
        for i in range(20):
            await store.append("shared", [Message.user(f"{name}{i}"), Message.assistant("ok")])

    await asyncio.gather(writer(one, "a"), writer(two, "b"))
    messages = await one.load("shared")
    assert len(messages) == 80
    # Each turn's two messages stay together, and each writer's turns stay in its order.
    users = [m.text for m in messages[::2]]
    assert all(m.text == "ok" for m in messages[1::2])
    assert [u for u in users if u.startswith("a")] == [f"a{i}" for i in range(20)]
    await one.db.close()
    await two.db.close()


async def test_a_turn_appended_by_two_processes_for_one_run_is_stored_once(
    pg_database: str, tmp_path: Path
) -> None:
    url = schema_url(pg_database, str(tmp_path))
    one, two = PostgresSessionStore(url), PostgresSessionStore(url)
    turn = [Message.user("hi"), Message.assistant("hello")]
    await asyncio.gather(*(s.append("s", turn, run_id="run-1") for s in (one, two, one, two)))
    assert len(await one.load("s")) == 2
    await one.db.close()
    await two.db.close()


async def test_migrations_are_recorded_once_by_racing_processes(
    pg_database: str, tmp_path: Path
) -> None:
    url = schema_url(pg_database, str(tmp_path))
    databases = [PostgresDatabase(url) for _ in range(3)]
    versions = await asyncio.gather(*(d.schema_version() for d in databases))
    shipped = load_migrations("postgres")
    assert versions == [shipped[-1].version] * 3
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM keel_schema").fetchone() == (len(shipped),)
    for database in databases:
        await database.close()


async def test_an_app_with_a_postgres_url_keeps_sessions_and_runs_there(
    pg_database: str, tmp_path: Path
) -> None:
    url = schema_url(pg_database, str(tmp_path))
    agent = Agent(name="desk", model=ScriptedModel(["hello"]))
    app = App(agents=[agent], database=url)
    result = await app.runner.run(agent, "hi", session_id="s1")
    assert [m.text for m in await app.session_store.load("s1")] == ["hi", "hello"]
    assert (await app.run_store.load(result.run_id)).status == "completed"
