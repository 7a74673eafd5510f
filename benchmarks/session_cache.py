"""Turn cost against PostgreSQL with and without the Redis session cache, at long histories.

A turn of a conversation reads the session's whole history and appends its new messages.
Two scenarios per history length, on one PostgreSQL database and one Redis: the store
alone (`load` + `append` of two messages), and a whole turn (`Runner.run` with an
instant model: history load, run start, completion with the turn in one transaction).
Each scenario runs on two `App`s over the same database — one plain, one with
`stores.redis_url`'s cache — in alternating rounds, so load on the machine hits both
alike. Wall time includes the PostgreSQL and Redis servers' work (and waiting for a
core); "CPU" is this process's (psycopg building rows, decoding JSON); "server CPU" is
the PostgreSQL backends' of this database plus the Redis server's (all of it: other
clients of that Redis count too), per turn, from /proc.

    .venv/bin/python benchmarks/session_cache.py [--history 100 1000] [--turns 100]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
import redis

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks._common import (
    Timings,
    machine_line,
    print_table,
    summarize_timings,
    time_async,
)
from tests.pg import create_database, drop_database, schema_url

from keel import Agent, App, Message
from keel.storage.postgres import PostgresDatabase
from keel.storage.postgres_sessions import PostgresSessionStore
from keel.storage.redis_sessions import cache_sessions
from keel.testing.models import FunctionModel

REDIS = "redis://127.0.0.1:6379/7"


def _history(length: int) -> list[Message]:
    """A support conversation's worth of text: ~300 characters a message."""
    words = "the order arrived late and the box was damaged, please help " * 5
    return [
        Message.user(f"{i}: {words}") if i % 2 == 0 else Message.assistant(f"{i}: {words}")
        for i in range(length)
    ]


def _apps(url: str) -> dict[str, App]:
    agent = Agent(name="desk", model=FunctionModel(lambda request: "noted"))
    apps = {"PostgreSQL": App(agents=[agent], database=url)}
    apps["PostgreSQL + Redis cache"] = App(agents=[agent], database=url)
    cache = cache_sessions(apps["PostgreSQL + Redis cache"], REDIS)
    assert cache is not None
    cache.min_messages = 0  # every history, to show where the cache pays (default: 500)
    return apps


async def _store_turn(store: PostgresSessionStore, session: str) -> None:
    await store.load(session)
    await store.append(session, [Message.user("one more"), Message.assistant("noted")])


@dataclass(slots=True)
class Pooled:
    timings: Timings = field(default_factory=Timings)
    server_s: float = 0.0
    turns: int = 0


def _server_cpu(db: PostgresDatabase) -> dict[str, float]:
    """CPU seconds so far of each PostgreSQL backend on `db`'s database, and of Redis."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchall()
    seconds: dict[str, float] = {}
    for (pid,) in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        seconds[f"pg{pid}"] = times.user + times.system
    info = redis.Redis.from_url(REDIS).info("cpu")
    seconds["redis"] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return seconds


def _spent(before: dict[str, float], after: dict[str, float]) -> float:
    return sum(after[k] - before.get(k, 0.0) for k in after)


async def _measure(app: App, kind: str, history: int, turns: int, pooled: Pooled) -> None:
    session = f"{kind}-{uuid.uuid4().hex[:8]}"
    store = app.session_store
    assert isinstance(store, PostgresSessionStore)
    await store.append(session, _history(history))
    agent = app.agents[0]

    async def once(_: int) -> None:
        if kind == "store":
            await _store_turn(store, session)
        else:
            await app.runner.run(agent, "one more", session_id=session)

    await once(0)  # the first load after seeding fills the cache: not a steady turn
    before = _server_cpu(store.db)
    pooled.timings.extend(await time_async(once, runs=turns, warmup=2))
    pooled.server_s += _spent(before, _server_cpu(store.db))
    pooled.turns += turns + 2


async def _main(histories: list[int], turns: int, rounds: int) -> None:
    database = create_database()
    try:
        apps = _apps(schema_url(database, "session-cache-bench"))
        rows: list[list[str]] = []
        for history in histories:
            for kind in ("store", "turn"):
                pooled = {label: Pooled() for label in apps}
                for _ in range(rounds):  # alternate, so machine load hits both alike
                    for label, app in apps.items():
                        await _measure(app, kind, history, turns, pooled[label])
                rows += _rows(history, kind, pooled)
        print(machine_line())
        print(f"{turns} turns x {rounds} rounds per row; history grows 2 messages a turn")
        headers = ["history  scenario", "stores", "p50 ms", "p99 ms", "CPU p50 ms",
                   "server CPU ms", "CPU ratio"]  # fmt: skip
        print_table(headers, rows)
        print(machine_line())
    finally:
        drop_database(database)


def _rows(history: int, kind: str, pooled: dict[str, Pooled]) -> list[list[str]]:
    summaries = [(summarize_timings(label, p.timings), p) for label, p in pooled.items()]
    base = summaries[0][0].cpu_p50_us or 1.0
    what = "load+append" if kind == "store" else "Runner.run"
    return [
        [
            f"{history:>7}  {what}",
            s.label,
            f"{s.p50_us / 1000:.2f}",
            f"{s.p99_us / 1000:.2f}",
            f"{(s.cpu_p50_us or 0) / 1000:.2f}",
            f"{p.server_s / p.turns * 1000:.2f}",
            f"{(s.cpu_p50_us or 0) / base:.2f}",
        ]
        for s, p in summaries
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--history", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(_main(args.history, args.turns, args.rounds))
