"""Memory on both backends: the summary store's contract, and a PostgreSQL app keeping
its summaries and user facts in PostgreSQL, where deleting a user and retention reach
them. (The user-memory suite itself runs on both backends in test_user_memory.py.)"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from keel import Agent, App
from keel.memory import SessionWindow
from keel.memory.postgres import PostgresSummaryStore, PostgresUserMemory
from keel.memory.retention import RetentionPolicy
from keel.memory.summary import SQLiteSummaryStore, StoredSummary, SummaryKey, SummaryStore
from keel.principal import Principal
from keel.storage import SQLiteDatabase
from keel.testing import FunctionModel
from tests.memory.test_retention import SECRET
from tests.memory.test_window import Recorder, ScriptedSummarizer
from tests.pg import pg_database, schema_url

__all__ = ["pg_database"]

ANN, BOB = Principal("ann-7f3e", "acme"), Principal("bob-2c9a", "acme")


@pytest.fixture(params=["sqlite", "postgres"])
def summaries(request: pytest.FixtureRequest, tmp_path: Path) -> SummaryStore:
    if request.param == "sqlite":
        return SQLiteSummaryStore(SQLiteDatabase(tmp_path / "app.db"))
    return PostgresSummaryStore(schema_url(request.getfixturevalue("pg_database"), str(tmp_path)))


async def test_summaries_are_found_by_prefix_replaced_in_place_and_kept_per_tenant(
    summaries: SummaryStore,
) -> None:
    key = SummaryKey("acme", "chat", "support")
    for folded in (10, 20, 30):
        await summaries.put(
            key, StoredSummary(folded, f"h{folded}", f"first {folded}"), user_id="ann"
        )
    await summaries.put(key, StoredSummary(20, "h20b", "second 20"), user_id="ann")
    found = await summaries.latest(key, at_most=25)
    assert found == [StoredSummary(20, "h20b", "second 20"), StoredSummary(10, "h10", "first 10")]
    assert await summaries.latest(SummaryKey("other", "chat", "support"), at_most=99) == []


@pytest.fixture
async def pg_app(pg_database: str, tmp_path: Path) -> AsyncIterator[App]:
    window = SessionWindow(max_tokens=120, summarizer=ScriptedSummarizer())
    agent = Agent(name="support", model=FunctionModel(Recorder()), middleware=[window])
    app = App(agents=[agent], database=schema_url(pg_database, str(tmp_path)))
    window.summaries = app.summary_store
    yield app
    await app._postgres.close()  # pyright: ignore[reportPrivateUsage]


async def fill(app: App, who: Principal, secret: str) -> None:
    app.user_memory.remember(who, f"Knows that {secret}")
    for turn in range(12):
        text = secret if turn == 1 else f"turn {turn}: more words about the weather and tea"
        await app.runner.run(app.agent(), text, session_id=f"chat-{who.user_id}", principal=who)


def every_text_in(url: str) -> str:
    """Every value of every row of every table of the app's PostgreSQL schema, as text."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        query = sql.SQL("SELECT t::text FROM {} t")
        rows = [conn.execute(query.format(sql.Identifier(t))).fetchall() for (t,) in tables]
    return "\n".join(repr(r) for table in rows for r in table)


async def test_a_postgres_app_keeps_summaries_and_facts_in_postgres_and_deletes_them(
    pg_app: App,
) -> None:
    assert isinstance(pg_app.summary_store, PostgresSummaryStore)
    assert isinstance(pg_app.user_memory, PostgresUserMemory)
    await fill(pg_app, ANN, SECRET)
    await fill(pg_app, BOB, "Bob's locker code is LK-5521.")
    url = str(pg_app.database_url)
    before = every_text_in(url)
    assert "PX-778812" in before and "ann-7f3e" in before
    assert [f.text for f in pg_app.user_memory.facts(BOB)] == [
        "Knows that Bob's locker code is LK-5521."
    ]
    assert pg_app.user_memory.facts(Principal("ann-7f3e", "other")) == []  # another tenant

    report = await pg_app.delete_user(ANN)
    assert report.deleted["sessions"] == 1 and report.deleted["runs"] == 12
    assert report.deleted["memory_facts"] == 1 and report.deleted["memory_summaries"] >= 1
    after = every_text_in(url)
    for trace in ("PX-778812", "QZ-4471-VV", "passport", "ann-7f3e"):
        assert trace not in after
    assert "LK-5521" in after and "bob-2c9a" in after  # nobody else's data went with it


async def test_retention_on_a_postgres_app(pg_app: App) -> None:
    await fill(pg_app, ANN, SECRET)
    pg_app.user_memory.remember(BOB, "Visiting until Friday", ttl_s=60)
    policy = RetentionPolicy(sessions_days=30, runs_days=30)
    kept = await pg_app.apply_retention(policy)
    assert kept == {"sessions": 0, "session_messages": 0, "memory_summaries": 0,
                    "runs": 0, "memory_facts": 0}  # fmt: skip
    from keel.memory.postgres import apply_retention_postgres

    later = time.time() + 31 * 86_400
    gone = await apply_retention_postgres(pg_app._postgres, policy, now=later)  # pyright: ignore[reportPrivateUsage]
    assert gone["sessions"] == 1 and gone["session_messages"] == 24 and gone["runs"] == 12
    assert gone["memory_summaries"] >= 1 and gone["memory_facts"] == 1  # Bob's, with a TTL
    assert [f.text for f in pg_app.user_memory.facts(ANN)] == [f"Knows that {SECRET}"]
