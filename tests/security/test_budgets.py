from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from redis.asyncio import Redis

from keel import Agent, Runner, tool
from keel.exceptions import LimitExceeded
from keel.models.base import ModelSettings
from keel.models.profiles import PROFILES
from keel.principal import Principal
from keel.ratelimit import TokenBucket
from keel.security.budgets import (
    BudgetExceeded,
    BudgetLimits,
    RedisBudgetStore,
    SQLiteBudgetStore,
    budget_keys,
    day_of,
)
from keel.security.middleware import CostBudget, LoopGuard, RateLimit, RateLimited, fixed_estimate
from keel.testing import ScriptedModel, tool_call

ALICE = Principal(user_id="alice", tenant_id="acme")
DAY = 1_800_000_000.0  # a fixed instant: the budget day never changes mid-test


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis(host="127.0.0.1", port=6379, db=1)
    yield client
    await client.aclose()


async def _hammer(store: SQLiteBudgetStore | RedisBudgetStore, n: int = 100) -> int:
    async def one() -> bool:
        try:
            reservation = await store.reserve(ALICE, 1.0)
        except BudgetExceeded:
            return False
        await store.settle(reservation, 1.0)
        return True

    return sum(await asyncio.gather(*(one() for _ in range(n))))


async def test_100_simultaneous_requests_never_overspend_sqlite(tmp_path: Path) -> None:
    store = SQLiteBudgetStore(
        tmp_path / "b.db", BudgetLimits(per_user=10, per_tenant=25), clock=lambda: DAY
    )
    assert await _hammer(store) == 10
    assert await store.spent("2027-01-15:tenant:acme:user:alice") == 10


async def test_100_simultaneous_requests_never_overspend_redis(redis: Redis) -> None:
    prefix = f"keel-test:{uuid.uuid4().hex}:"
    store = RedisBudgetStore(
        redis, BudgetLimits(per_user=10, per_tenant=25), prefix=prefix, clock=lambda: DAY
    )
    assert await _hammer(store) == 10
    assert await store.spent("2027-01-15:tenant:acme:user:alice") == 10


async def test_the_tenant_budget_binds_across_users(tmp_path: Path) -> None:
    store = SQLiteBudgetStore(tmp_path / "b.db", BudgetLimits(per_tenant=3), clock=lambda: DAY)
    for user in ("a", "b", "c"):
        await store.reserve(Principal(user_id=user, tenant_id="acme"), 1.0)
    with pytest.raises(BudgetExceeded):
        await store.reserve(Principal(user_id="d", tenant_id="acme"), 1.0)
    await store.reserve(Principal(user_id="d", tenant_id="other"), 1.0)  # another tenant


async def test_settlement_returns_the_unspent_part(tmp_path: Path) -> None:
    store = SQLiteBudgetStore(tmp_path / "b.db", BudgetLimits(per_user=1.0), clock=lambda: DAY)
    reservation = await store.reserve(ALICE, 0.8)
    with pytest.raises(BudgetExceeded):
        await store.reserve(ALICE, 0.5)
    await store.settle(reservation, 0.1)
    await store.reserve(ALICE, 0.5)


async def test_cost_budget_middleware_blocks_politely_and_releases_failed_calls(
    tmp_path: Path,
) -> None:
    store = SQLiteBudgetStore(tmp_path / "b.db", BudgetLimits(per_user=1.0), clock=lambda: DAY)
    agent = Agent(
        name="a",
        model=ScriptedModel(["one", "two"]),
        middleware=[CostBudget(store, estimate=fixed_estimate(0.6), cost=lambda r: 0.5)],
    )
    runner = Runner()
    assert (await runner.run(agent, "hi", principal=ALICE)).output == "one"
    with pytest.raises(BudgetExceeded) as caught:
        await runner.run(agent, "hi", principal=ALICE)
    assert "usage limit" in caught.value.reply


async def test_rate_limit_middleware_refuses_with_retry_after() -> None:
    limiter = TokenBucket(rate=0.01, burst=1)
    agent = Agent(name="a", model=ScriptedModel(["ok", "ok"]), middleware=[RateLimit(limiter)])
    runner = Runner()
    await runner.run(agent, "hi", principal=ALICE)
    with pytest.raises(RateLimited) as caught:
        await runner.run(agent, "hi", principal=ALICE)
    assert caught.value.key == "user:acme/alice" and caught.value.retry_after > 0
    await runner.run(
        agent, "hi", principal=Principal(user_id="bob", tenant_id="other")
    )  # own bucket


@tool
def poll(job: str) -> str:
    """Poll a job."""
    return "pending"


async def test_a_runaway_tool_loop_is_stopped() -> None:
    model = ScriptedModel([tool_call("poll", {"job": "j1"})] * 20)
    agent = Agent(
        name="a", model=model, tools=[poll], middleware=[LoopGuard(max_repeats=2, max_denials=2)]
    )
    with pytest.raises(LimitExceeded, match="runaway loop"):
        await Runner().run(agent, "go")
    assert len(model.requests) == 5  # 2 runs, 2 refusals told to the model, then the stop


async def test_cost_budget_prices_by_default_from_the_model_profiles(tmp_path: Path) -> None:
    # $1 per million tokens either way: an answer capped at 100 tokens plus a short prompt
    # reserves ~0.0001; the scripted model reports spending 0.25 per call.
    PROFILES.update({"test:priced": {"input_price": 1.0, "output_price": 1.0}})
    limits = BudgetLimits(per_user=0.3)
    store = SQLiteBudgetStore(tmp_path / "b.db", limits, clock=lambda: DAY)
    agent = Agent(
        name="a",
        model=ScriptedModel(["one", "two"], model_name="priced", cost=0.25),
        model_settings=ModelSettings(max_tokens=100),
        middleware=[CostBudget(store)],
    )
    runner = Runner()
    assert (await runner.run(agent, "hi", principal=ALICE)).output == "one"
    ((user_key, _),) = budget_keys(ALICE, limits, day_of(lambda: DAY))
    assert await store.spent(user_key) == pytest.approx(0.25)
    big = replace(agent, model_settings=ModelSettings(max_tokens=100_000))  # worst case 0.1
    with pytest.raises(BudgetExceeded):
        await runner.run(big, "hi", principal=ALICE)
