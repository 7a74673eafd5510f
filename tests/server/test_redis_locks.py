"""Per-session ordering across API processes with Redis (real Redis at 127.0.0.1:6379).

Two servers on one PostgreSQL database stand for two API processes behind a load
balancer: each has its own `Runner`, so only Redis can make their runs take turns.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from keel import Agent, App, SessionBusyError
from keel.models.base import ModelRequest
from keel.storage.redis_locks import RedisSessionLocks
from keel.testing.models import FunctionModel
from tests.pg import pg_database, schema_url
from tests.server.conftest import API_KEY, Served, serve, settings

__all__ = ["pg_database"]

REDIS = "redis://127.0.0.1:6379/6"  # keys carry a per-test prefix or session id
_served = contextmanager(serve)


async def _slow_echo(request: ModelRequest) -> str:
    await asyncio.sleep(0.05)  # long enough that messages overlap
    return f"echo: {request.messages[-1].text}"


@pytest.fixture
def two_apis(pg_database: str, tmp_path: Path) -> Iterator[list[Served]]:
    url = schema_url(pg_database, str(tmp_path))
    config = settings(stores={"redis_url": REDIS})
    with ExitStack() as stack:
        apps = [App(agents=[Agent(name="echo", model=FunctionModel(_slow_echo))], database=url)]
        apps.append(App(agents=apps[0].agents, database=url))  # its own Runner, own locks
        yield [stack.enter_context(_served(app, config)) for app in apps]


async def _send_all(servers: list[Served], session: str, count: int) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        sends = [
            client.post(
                f"{servers[i % 2].url}/sessions/{session}/messages", json={"input": f"m{i}"}
            )
            for i in range(count)
        ]
        return await asyncio.gather(*sends)


def test_messages_to_one_session_on_two_processes_take_turns(two_apis: list[Served]) -> None:
    session = f"s-{uuid.uuid4().hex}"
    replies = asyncio.run(_send_all(two_apis, session, 8))
    assert [r.status_code for r in replies] == [200] * 8, [r.text for r in replies]
    with two_apis[0].client() as client:
        messages = client.get(f"/sessions/{session}/messages").json()["messages"]
    texts = [m["parts"][0]["text"] for m in messages]
    assert len(texts) == 16
    # Every answer directly follows its own question: no turn interleaved with another.
    for question, answer in zip(texts[::2], texts[1::2], strict=True):
        assert answer == f"echo: {question}"


def _key(locks: RedisSessionLocks, session: str) -> str:
    return locks.key("acme", session)


def test_a_dead_process_lock_expires_and_the_next_run_goes_on() -> None:
    async def scenario() -> None:
        locks = RedisSessionLocks(REDIS, prefix=f"t-{uuid.uuid4().hex}", wait_s=5)
        # What a SIGKILLed process leaves: the key with its expiry, never released.
        redis.Redis.from_url(REDIS).set(_key(locks, "s"), "dead-token", px=300)
        held = await locks.acquire("acme", "s")
        assert held is not None
        held.release()
        await locks.close()

    asyncio.run(scenario())


def test_waiting_past_wait_s_is_session_busy() -> None:
    async def scenario() -> None:
        prefix = f"t-{uuid.uuid4().hex}"
        first = RedisSessionLocks(REDIS, prefix=prefix, timeout_s=0.3)
        other = RedisSessionLocks(REDIS, prefix=prefix, wait_s=0.2)
        held = await first.acquire("acme", "s")
        assert held is not None
        await asyncio.sleep(0.6)  # past the lock's own timeout: renewal keeps it held
        with pytest.raises(SessionBusyError):
            await other.acquire("acme", "s")
        held.release()
        await first.close()
        again = await other.acquire("acme", "s")  # released: free for the next run
        assert again is not None
        again.release()
        await other.close()

    asyncio.run(scenario())


def test_sessions_without_an_id_take_no_lock() -> None:
    async def scenario() -> None:
        locks = RedisSessionLocks("redis://127.0.0.1:1/0")  # never contacted
        assert await locks.acquire("acme", None) is None

    asyncio.run(scenario())
