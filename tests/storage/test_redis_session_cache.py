"""The Redis session cache over PostgreSQL (real Redis at 127.0.0.1:6379, real PostgreSQL).

Two `PostgresSessionStore`s with their own pools and Redis clients stand for two API
processes; one without a cache stands for a writer that never heard of Redis.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
import redis
from typer.testing import CliRunner

from keel import Agent, App, Message, SessionNotFoundError
from keel.cli import cli
from keel.memory.retention import RetentionPolicy
from keel.principal import Principal
from keel.storage.postgres_sessions import PostgresSessionStore
from keel.storage.redis_sessions import RedisSessionCache, cache_sessions
from keel.testing import ScriptedModel
from tests.pg import app_module, pg_database, schema_url

__all__ = ["pg_database"]

REDIS = "redis://127.0.0.1:6379/6"


def _client() -> redis.Redis:
    return redis.Redis.from_url(REDIS)


def _get(key: str) -> bytes | None:
    value = _client().get(key)
    assert value is None or isinstance(value, bytes)
    return value


def _cache(prefix: str) -> RedisSessionCache:
    return RedisSessionCache(REDIS, prefix=prefix, ttl_s=600, min_messages=0)  # every history


@pytest.fixture
async def stores(pg_database: str, tmp_path: Path) -> AsyncIterator[list[PostgresSessionStore]]:
    url = schema_url(pg_database, str(tmp_path))
    prefix = f"t-{uuid.uuid4().hex}"
    made = [
        PostgresSessionStore(url, cache=_cache(prefix)),
        PostgresSessionStore(url, cache=_cache(prefix)),
        PostgresSessionStore(url),  # no cache
    ]
    yield made
    for store in made:
        await store.db.close()
        if store.cache is not None:
            await store.cache.close()


def _entry(store: PostgresSessionStore, session: str) -> tuple[bytes | None, bytes | None]:
    assert store.cache is not None
    v, m = store.cache.keys("default", session)
    return _get(v), _get(m)


def _turn(text: str) -> list[Message]:
    return [Message.user(text), Message.assistant(f"re: {text}")]


async def test_a_turn_is_written_through_and_read_back_by_another_process(
    stores: list[PostgresSessionStore],
) -> None:
    one, two, _ = stores
    await one.append("s", _turn("a"))
    await one.append("s", _turn("b"))
    version, blob = _entry(one, "s")
    assert version is not None and version.endswith(b"/4")  # written through, no load yet
    assert blob is not None and blob.count(b'"role"') == 4
    assert [m.text for m in await two.load("s")] == ["a", "re: a", "b", "re: b"]
    await two.append("s", _turn("c"))
    assert [m.text for m in await one.load("s")][-2:] == ["c", "re: c"]


async def test_a_load_is_served_from_redis_when_it_holds_the_current_version(
    stores: list[PostgresSessionStore],
) -> None:
    one, two, _ = stores
    await one.append("s", _turn("from postgres"))
    assert one.cache is not None
    v, m = one.cache.keys("default", "s")
    stored = _get(m)
    assert stored is not None
    _client().set(m, stored.replace(b"from postgres", b"from redis"))
    assert (await two.load("s"))[0].text == "from redis"
    _client().set(v, b"0.0/1")  # another version: PostgreSQL serves
    assert (await two.load("s"))[0].text == "from postgres"
    assert _entry(one, "s")[1] == stored  # and the entry was filled again


async def test_a_writer_without_the_cache_never_leaves_a_stale_history(
    stores: list[PostgresSessionStore],
) -> None:
    one, _, plain = stores
    await one.append("s", _turn("a"))
    assert len(await one.load("s")) == 2
    await plain.append("s", _turn("b"))  # Redis still holds the two-message history
    assert [m.text for m in await one.load("s")] == ["a", "re: a", "b", "re: b"]


@pytest.fixture
async def cached_app(
    stores: list[PostgresSessionStore], pg_database: str, tmp_path: Path
) -> AsyncIterator[App]:
    """An app on the stores' database whose session store shares their cache."""
    app = App(
        agents=[Agent(name="echo", model="test:echo")],
        database=schema_url(pg_database, str(tmp_path)),
    )
    store = app.session_store
    assert isinstance(store, PostgresSessionStore)
    store.cache = stores[0].cache
    yield app
    await store.db.close()


async def test_deleting_a_user_drops_their_histories_and_a_new_session_starts_empty(
    stores: list[PostgresSessionStore], cached_app: App
) -> None:
    one, two, _ = stores
    await one.append("s", _turn("secret"), user_id="u1")
    await one.append("kept", _turn("other user"), user_id="u2")
    assert (await two.load("s"))[0].text == "secret"
    report = await cached_app.delete_user(Principal("u1"))
    assert report.deleted["sessions"] == 1 and report.deleted["runs"] == 0
    assert _entry(one, "s") == (None, None)
    with pytest.raises(SessionNotFoundError):
        await two.load("s")
    await two.append("s", _turn("fresh"), user_id="u3")
    assert [m.text for m in await one.load("s")] == ["fresh", "re: fresh"]
    assert (await one.load("kept"))[0].text == "other user"
    assert _entry(one, "kept")[1] is not None  # another user's history stays cached


async def test_a_session_deleted_behind_the_cache_is_not_served(
    stores: list[PostgresSessionStore],
) -> None:
    one, _, plain = stores
    await one.append("s", _turn("old"))
    await plain.clear("s")  # no cache: Redis keeps the entry
    assert _entry(one, "s")[1] is not None
    with pytest.raises(SessionNotFoundError):
        await one.load("s")
    await plain.append("s", _turn("new"))  # same id, same message count, new session
    assert [m.text for m in await one.load("s")] == ["new", "re: new"]


async def test_retention_drops_expired_histories(
    stores: list[PostgresSessionStore], cached_app: App
) -> None:
    one, _, _ = stores
    await one.append("s", _turn("old"))
    assert _entry(one, "s")[1] is not None
    deleted = await cached_app.apply_retention(RetentionPolicy(sessions_days=-1))
    assert deleted["sessions"] == 1
    assert _entry(one, "s") == (None, None)
    with pytest.raises(SessionNotFoundError):
        await one.load("s")


async def test_entries_expire_and_long_histories_are_not_cached(
    pg_database: str, tmp_path: Path
) -> None:
    prefix = f"t-{uuid.uuid4().hex}"
    cache = RedisSessionCache(REDIS, prefix=prefix, ttl_s=90, max_bytes=300, min_messages=0)
    store = PostgresSessionStore(schema_url(pg_database, str(tmp_path)), cache=cache)
    await store.append("s", _turn("short"))
    v, m = cache.keys("default", "s")
    client = _client()
    assert 0 < client.ttl(v) <= 90 and 0 < client.ttl(m) <= 90
    await store.append("s", _turn("x" * 400))  # past max_bytes: dropped
    assert _get(m) is None
    assert len(await store.load("s")) == 4
    assert _get(m) is None  # and not filled again
    await store.db.close()
    await cache.close()


async def test_short_histories_stay_in_postgres_until_they_grow(
    pg_database: str, tmp_path: Path
) -> None:
    cache = RedisSessionCache(REDIS, prefix=f"t-{uuid.uuid4().hex}", min_messages=6)
    store = PostgresSessionStore(schema_url(pg_database, str(tmp_path)), cache=cache)
    for text in ("a", "b"):
        await store.append("s", _turn(text))
    assert len(await store.load("s")) == 4
    assert _entry(store, "s") == (None, None)
    await store.append("s", _turn("c"))  # six messages: now worth caching
    assert len(await store.load("s")) == 6
    version, blob = _entry(store, "s")
    assert version is not None and version.endswith(b"/6") and blob is not None
    await store.db.close()
    await cache.close()


async def test_without_redis_postgres_serves(pg_database: str, tmp_path: Path) -> None:
    cache = RedisSessionCache("redis://127.0.0.1:1/0")  # nothing listens there
    store = PostgresSessionStore(schema_url(pg_database, str(tmp_path)), cache=cache)
    await store.append("s", _turn("a"))
    assert [m.text for m in await store.load("s")] == ["a", "re: a"]
    await store.db.close()
    await cache.close()


async def test_a_run_completed_with_its_turn_writes_the_turn_through(
    pg_database: str, tmp_path: Path
) -> None:
    agent = Agent(name="desk", model=ScriptedModel(["one", "two"]))
    app = App(agents=[agent], database=schema_url(pg_database, str(tmp_path)))
    cache = cache_sessions(app, REDIS)
    assert cache is not None
    cache.min_messages = 0
    await app.runner.run(agent, "hi", session_id="s1")
    await app.runner.run(agent, "again", session_id="s1")
    v, m = cache.keys("default", "s1")
    version = _get(v)
    assert version is not None and version.endswith(b"/4")
    assert [x.text for x in await app.session_store.load("s1")] == ["hi", "one", "again", "two"]
    _client().delete(v, m)
    await cache.close()


def test_keel_users_delete_removes_a_postgres_apps_sessions_and_runs(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = schema_url(pg_database, str(tmp_path))
    target = app_module(tmp_path, url, monkeypatch)
    agent = Agent(name="echo", model="test:echo")

    async def talk() -> None:
        app = App(agents=[agent], database=url)
        for who in ("ann", "bob"):
            await app.runner.run(agent, "hi", session_id=f"s-{who}", principal=Principal(who))
        store = app.session_store
        assert isinstance(store, PostgresSessionStore)
        await store.db.close()

    asyncio.run(talk())
    result = CliRunner().invoke(cli, ["users", "delete", "ann", "--app", target, "--json"])
    assert result.exit_code == 0, result.output
    deleted = json.loads(result.stdout)["deleted"]
    assert deleted["sessions"] == 1 and deleted["runs"] == 1
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT id FROM sessions").fetchall() == [("s-bob",)]
        assert conn.execute("SELECT user_id FROM runs").fetchall() == [("bob",)]


def test_keel_users_delete_with_the_server_config_drops_cached_histories(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = schema_url(pg_database, str(tmp_path))
    target = app_module(tmp_path, url, monkeypatch)
    agent = Agent(name="echo", model="test:echo")

    async def talk() -> list[str]:
        app = App(agents=[agent], database=url)
        cache = cache_sessions(app, REDIS)
        assert cache is not None
        cache.min_messages = 0  # cache this short history
        ann = Principal("ann")
        await app.runner.run(agent, "my card is 4111", session_id="s-ann", principal=ann)
        keys = cache.keys("default", "s-ann")
        await cache.close()
        return keys

    keys = asyncio.run(talk())
    assert _get(keys[1]) is not None and b"4111" in (_get(keys[1]) or b"")
    settings = tmp_path / "serve.toml"
    settings.write_text(f'[stores]\nredis_url = "{REDIS}"\n')
    args = ["users", "delete", "ann", "--app", target, "--config", str(settings), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert [_get(key) for key in keys] == [None, None]
