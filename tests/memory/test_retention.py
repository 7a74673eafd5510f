"""Deleting a user leaves nothing of theirs in any table; retention removes what is old."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel import Agent, App
from keel.cli import cli
from keel.handoffs.human.store import HandoffItem, HumanQueue
from keel.memory import SessionWindow, SQLiteSummaryStore, retention
from keel.memory.retention import RetentionPolicy, apply_retention, delete_user
from keel.memory.user import UserMemory
from keel.observability.feedback import FeedbackStore
from keel.observability.query import TraceQuery
from keel.principal import Principal
from keel.settings import data_dir
from keel.storage import SQLiteDatabase
from keel.testing import FunctionModel
from keel.tickets import Ticket
from tests.knowledge.conftest import CachedEmbedder
from tests.memory.test_window import Recorder, ScriptedSummarizer

SECRET = "Ann's passport number is PX-778812 and her PIN is QZ-4471-VV."


def every_text_in(path: Path) -> str:
    """Every value of every row of every table (FTS shadow tables included), as text."""
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')]
    return "\n".join(rows)


async def fill(app: App, who: Principal, secret: str) -> None:
    db = SQLiteDatabase(app.database_path)
    UserMemory(db, CachedEmbedder()).remember(who, f"Knows that {secret}")
    agent = app.agent()
    for turn in range(12):
        text = secret if turn == 1 else f"turn {turn}: more words about the weather and tea"
        await app.runner.run(agent, text, session_id=f"chat-{who.user_id}", principal=who)


async def layers_remember(app: App, who: Principal) -> None:
    """What other layers keep of a user: traces, feedback, a ticket, a human handoff."""
    assert app.telemetry.flush()
    (trace, *_) = app.trace_store.search(TraceQuery(user=who.user_id))
    db = SQLiteDatabase(app.database_path)
    FeedbackStore(db).add(trace.run_id, thumbs="down", text=SECRET, tenant_id=who.tenant_id)
    ticket = Ticket.for_principal("model_unavailable", SECRET, who, detail={"said": SECRET})
    await app.ticket_store.open(ticket)
    item = HandoffItem(
        id="h1", session_id=f"chat-{who.user_id}", trigger="explicit", reason=SECRET,
        summary=SECRET, transcript=[{"role": "user", "text": SECRET}],
        tenant_id=who.tenant_id, user_id=who.user_id,
    )  # fmt: skip
    HumanQueue(db).open(item)


def make_app(path: Path) -> App:
    window = SessionWindow(
        max_tokens=120,
        summarizer=ScriptedSummarizer(),
        summaries=SQLiteSummaryStore(SQLiteDatabase(path)),
    )
    agent = Agent(name="support", model=FunctionModel(Recorder()), middleware=[window])
    return App(agents=[agent], database=path)


async def test_delete_user_leaves_none_of_their_strings_in_any_table(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app.db")
    ann, bob = Principal("ann-7f3e", "acme"), Principal("bob-2c9a", "acme")
    await fill(app, ann, SECRET)
    await fill(app, bob, "Bob's locker code is LK-5521.")
    await layers_remember(app, ann)
    before = every_text_in(app.database_path)
    assert "PX-778812" in before and "ann-7f3e" in before

    report = delete_user(app._database, ann)  # pyright: ignore[reportPrivateUsage]
    assert report.deleted["sessions"] == 1 and report.deleted["runs"] == 12
    assert report.deleted["trace_runs"] == 12 and report.deleted["feedback"] == 1
    assert report.deleted["tickets"] == 1 and report.deleted["human_handoffs"] == 1
    assert report.deleted["memory_facts"] == 1 and report.deleted["memory_summaries"] >= 1

    after = every_text_in(app.database_path)
    for trace in ("PX-778812", "QZ-4471-VV", "passport", "ann-7f3e", "chat-ann-7f3e"):
        assert trace not in after
    assert "LK-5521" in after and "bob-2c9a" in after  # nobody else's data went with it
    assert await app.session_store.exists("chat-bob-2c9a", tenant_id="acme")


def test_keel_users_delete_command() -> None:
    path = data_dir() / "keel.db"
    UserMemory(SQLiteDatabase(path), CachedEmbedder()).remember(
        Principal("ann", "acme"), "Likes tea"
    )
    result = CliRunner().invoke(cli, ["users", "delete", "ann", "--tenant", "acme", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["deleted"]["memory_facts"] == 1
    again = CliRunner().invoke(cli, ["users", "delete", "ann", "--tenant", "acme"])
    assert again.stdout == "deleted ann@acme: nothing was stored\n"
    bad = CliRunner().invoke(cli, ["users", "delete", "not valid"])
    assert bad.exit_code == 2 and "user_id 'not valid' is invalid" in bad.stderr


async def test_retention_removes_old_sessions_runs_and_expired_facts(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app.db")
    await fill(app, Principal("ann", "acme"), SECRET)
    db = app._database  # pyright: ignore[reportPrivateUsage]
    kept = apply_retention(db, RetentionPolicy(sessions_days=30, runs_days=30))
    assert kept == {"sessions": 0, "session_messages": 0, "memory_summaries": 0,
                    "runs": 0, "memory_facts": 0}  # fmt: skip
    later = time.time() + 31 * 86_400
    gone = apply_retention(db, RetentionPolicy(sessions_days=30, runs_days=30), now=later)
    assert gone["sessions"] == 1 and gone["session_messages"] == 24 and gone["runs"] == 12
    assert gone["memory_summaries"] >= 1 and gone["memory_facts"] == 0  # it had no TTL
    with db.reading() as conn:
        for table in ("sessions", "session_messages", "memory_summaries", "runs"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def test_other_stores_join_the_deletion_through_register_deleter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "_deleters", [])
    db = SQLiteDatabase(tmp_path / "app.db")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE traces (tenant_id TEXT, user_id TEXT, body TEXT)")
        conn.execute("INSERT INTO traces VALUES ('acme', 'ann', 'hello'), ('acme', 'bob', 'hi')")

    def traces(conn: sqlite3.Connection, tenant: str, user: str) -> dict[str, int]:
        query = "DELETE FROM traces WHERE tenant_id = ? AND user_id = ?"
        return {"traces": conn.execute(query, (tenant, user)).rowcount}

    retention.register_deleter(traces)
    retention.register_deleter(traces)  # once only
    report = delete_user(db, Principal("ann", "acme"))
    assert report.deleted["traces"] == 1 and report.total == 1
    with db.reading() as conn:
        assert conn.execute("SELECT user_id FROM traces").fetchall() == [("bob",)]
