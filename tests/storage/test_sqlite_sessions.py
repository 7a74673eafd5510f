"""Session stores: round trips, unknown ids, atomic turns, migrations, restarts.

The behaviour tests run against SQLite and PostgreSQL (`store` is parametrized); those
that look inside the file or another process are SQLite's own."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keel import (
    Agent,
    InvalidSessionIdError,
    Message,
    Runner,
    SessionError,
    SessionNotFoundError,
    SessionStore,
    SQLiteSessionStore,
    ToolCallPart,
    ToolResultPart,
)
from keel.storage import SQLiteDatabase
from tests.pg import pg_database, schema_url

__all__ = ["pg_database"]
from keel.testing import ScriptedModel

CONVERSATION = [
    Message.user("héllo — 你好 👋"),
    Message.assistant("", tool_calls=[ToolCallPart("lookup", {"id": "A1", "n": [1, 2]}, "c1")]),
    Message.tool_results([ToolResultPart("c1", "lookup", '{"ok": true}', is_error=False)]),
    Message.assistant("done"),
]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> SQLiteSessionStore:
    return SQLiteSessionStore(tmp_path / "sessions.db")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SessionStore:
    if request.param == "sqlite":
        return SQLiteSessionStore(tmp_path / "sessions.db")
    from keel.storage.postgres_sessions import PostgresSessionStore

    return PostgresSessionStore(schema_url(request.getfixturevalue("pg_database"), str(tmp_path)))


async def test_round_trip_keeps_every_part_and_order(store: SessionStore) -> None:
    await store.append("s1", CONVERSATION[:2])
    await store.append("s1", CONVERSATION[2:])
    assert await store.load("s1") == CONVERSATION


async def test_unknown_session_is_a_clear_error(store: SessionStore) -> None:
    assert not await store.exists("nope")
    with pytest.raises(SessionNotFoundError, match="no session with id 'nope'"):
        await store.load("nope")
    with pytest.raises(SessionNotFoundError):
        await store.clear("nope")


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "../etc", "-lead"])
async def test_invalid_ids_are_refused_before_touching_the_database(
    store: SessionStore, bad: str
) -> None:
    with pytest.raises(InvalidSessionIdError):
        await store.append(bad, CONVERSATION)
    assert await store.list_ids() == []


async def test_non_string_id_is_refused(store: SessionStore) -> None:
    with pytest.raises(InvalidSessionIdError, match="must be a string"):
        await store.load(123)  # type: ignore[arg-type]


async def test_clear_removes_messages(sqlite_store: SQLiteSessionStore) -> None:
    store = sqlite_store
    await store.append("s1", CONVERSATION)
    await store.clear("s1")
    assert not await store.exists("s1")
    with sqlite3.connect(store.db.path) as conn:
        assert conn.execute("SELECT count(*) FROM session_messages").fetchone() == (0,)


async def test_list_ids_most_recent_first(store: SessionStore) -> None:
    for sid in ["a", "b", "c"]:
        await store.append(sid, CONVERSATION[:1])
    await store.append("a", CONVERSATION[1:2])
    assert (await store.list_ids())[0] == "a"
    assert await store.list_ids(limit=2) == ["a", "c"]


async def test_unserializable_message_writes_nothing(store: SessionStore) -> None:
    bad = Message.assistant("", tool_calls=[ToolCallPart("t", {"x": object()}, "c")])
    with pytest.raises(Exception):  # noqa: B017 - any serialization error will do
        await store.append("s1", [Message.user("first"), bad])
    assert not await store.exists("s1")


async def test_corrupt_rows_give_a_session_error(sqlite_store: SQLiteSessionStore) -> None:
    store = sqlite_store
    await store.append("s1", CONVERSATION[:1])
    with sqlite3.connect(store.db.path) as conn:
        conn.execute('UPDATE session_messages SET message = \'{"role": "alien"}\'')
    with pytest.raises(SessionError, match="corrupt"):
        await store.load("s1")


def test_migrations_are_recorded_and_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = SQLiteDatabase(path)
    version = first.schema_version()
    first.close()
    second = SQLiteDatabase(path)  # reopening must not re-run CREATE TABLE
    assert second.schema_version() == version >= 1
    with second.reading() as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


WRITER = textwrap.dedent(
    """
    import sys
    from keel import Agent, Runner, SQLiteSessionStore
    from keel.testing import FunctionModel

    def reply(request):
        users = [m.text for m in request.messages if m.role == "user"]
        return "seen: " + " | ".join(users)

    store = SQLiteSessionStore(sys.argv[1])
    agent = Agent(name="a", model=FunctionModel(reply))
    print(Runner(session_store=store).run_sync(agent, sys.argv[2], session_id="conv").output)
    """
)


def test_conversation_continues_across_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.db")
    outputs = [
        subprocess.run(
            [sys.executable, "-c", WRITER, db, text], capture_output=True, text=True, check=True
        ).stdout.strip()
        for text in ["my name is Ana", "what is my name?"]
    ]
    assert outputs == ["seen: my name is Ana", "seen: my name is Ana | what is my name?"]


async def test_runner_with_sqlite_store_saves_whole_turn(store: SessionStore) -> None:
    agent = Agent(name="a", model=ScriptedModel(["hi"]))
    await Runner(session_store=store).run(agent, "hello", session_id="t1")
    assert [m.role for m in await store.load("t1")] == ["user", "assistant"]


async def test_history_cache_sees_turns_written_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    mine, theirs = SQLiteSessionStore(path), SQLiteSessionStore(path)
    await mine.append("s1", CONVERSATION[:2])
    assert await mine.load("s1") == CONVERSATION[:2]
    await theirs.append("s1", CONVERSATION[2:])
    assert await mine.load("s1") == CONVERSATION


async def test_history_cache_never_serves_a_cleared_and_restarted_session(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    mine, theirs = SQLiteSessionStore(path), SQLiteSessionStore(path)
    await mine.append("s1", CONVERSATION)
    assert len(await mine.load("s1")) == 4
    await theirs.clear("s1")
    with pytest.raises(SessionNotFoundError):
        await mine.load("s1")
    await mine.append("s1", CONVERSATION)
    await mine.load("s1")
    await theirs.clear("s1")
    await theirs.append("s1", CONVERSATION[3:])  # same id, a new conversation
    assert await mine.load("s1") == CONVERSATION[3:]


async def test_history_cache_is_tenant_scoped_and_returns_copies(
    store: SQLiteSessionStore,
) -> None:
    await store.append("s1", CONVERSATION[:1], tenant_id="acme")
    await store.append("s1", CONVERSATION[3:], tenant_id="globex")
    first = await store.load("s1", tenant_id="acme")
    first.append(Message.user("not stored"))
    assert await store.load("s1", tenant_id="acme") == CONVERSATION[:1]
    assert await store.load("s1", tenant_id="globex") == CONVERSATION[3:]


async def test_a_corrupt_new_row_is_reported_after_the_history_was_cached(
    sqlite_store: SQLiteSessionStore,
) -> None:
    store = sqlite_store  # the decoded-history cache is the SQLite store's
    await store.append("s1", CONVERSATION[:1])
    await store.load("s1")
    await store.append("s1", CONVERSATION[1:2])
    with store.db.transaction() as conn:
        conn.execute("UPDATE session_messages SET message = '{\"role\": 5}' WHERE seq = 2")
    with pytest.raises(SessionError, match="corrupt"):
        await store.load("s1")


async def test_history_cache_is_bounded_by_messages_as_conversations_grow(
    sqlite_store: SQLiteSessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.storage import sqlite_sessions

    monkeypatch.setattr(sqlite_sessions, "CACHED_MESSAGES", 10)
    for turn in range(3):  # three sessions whose histories grow past the bound together
        for session in ("a", "b", "c"):
            await sqlite_store.append(session, CONVERSATION[:2])
            assert await sqlite_store.load(session) == CONVERSATION[:2] * (turn + 1)
    fill = sqlite_store.cache_fill()
    assert fill.messages <= 10
    assert fill.evicted > 0
    assert await sqlite_store.load("a") == CONVERSATION[:2] * 3  # evicted: read back whole


async def test_history_cache_is_bounded_in_size_not_only_in_messages(
    sqlite_store: SQLiteSessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.storage import sqlite_sessions

    monkeypatch.setattr(sqlite_sessions, "CACHED_CHARS", 50_000)
    big = [Message.user("x" * 10_000)]  # one message, ten thousand characters
    for session in range(20):  # 200,000 characters: four times the bound, 20 messages
        await sqlite_store.append(f"s{session}", big)
        assert await sqlite_store.load(f"s{session}") == big
    fill = sqlite_store.cache_fill()
    assert fill.chars <= 50_000
    assert fill.sessions < 5
    assert fill.evicted == 20 - fill.sessions
    assert await sqlite_store.load("s0") == big  # evicted: read back from the database


async def test_history_cache_keeps_its_bound_under_round_robin_over_growing_sessions(
    sqlite_store: SQLiteSessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The soak's workload (BENCHMARKS.md, issue 12): more sessions than fit, in a cycle,
    each growing every turn; the cache's fill never passes its bounds."""
    from keel.storage import sqlite_sessions

    monkeypatch.setattr(sqlite_sessions, "CACHED_SESSIONS", 8)
    monkeypatch.setattr(sqlite_sessions, "CACHED_MESSAGES", 40)
    for turn in range(12):
        for session in range(10):
            await sqlite_store.append(f"s{session}", CONVERSATION[:2])
            assert len(await sqlite_store.load(f"s{session}")) == 2 * (turn + 1)
            fill = sqlite_store.cache_fill()
            assert fill.sessions <= 8
            assert fill.messages <= 40 or fill.sessions == 1  # the newest stays, whole
