from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from keel.exceptions import ConfigurationError
from keel.ratelimit import RateLimiter, RedisTokenBucket, TokenBucket


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_token_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [(await bucket.acquire("u")).allowed for _ in range(4)] == [True, True, True, False]
    denied = await bucket.acquire("u")
    assert denied.retry_after == pytest.approx(0.5)
    clock.now += 0.5
    assert (await bucket.acquire("u")).allowed
    assert not (await bucket.acquire("u")).allowed


async def test_keys_have_separate_buckets() -> None:
    bucket = TokenBucket(rate=1, burst=1, clock=ManualClock())
    assert (await bucket.acquire("a")).allowed
    assert (await bucket.acquire("b")).allowed
    assert not (await bucket.acquire("a")).allowed


def test_bad_settings_and_requests_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="rate"):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ConfigurationError, match="burst"):
        TokenBucket(rate=1, burst=0)
    bucket = TokenBucket(rate=1, burst=2)
    with pytest.raises(ValueError, match="cost"):
        bucket.take("k", 3)
    with pytest.raises(ValueError, match="empty"):
        bucket.take("", 1)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis(host="127.0.0.1", port=6379, db=1)
    yield client
    await client.aclose()


async def test_redis_bucket_is_a_rate_limiter_and_never_overspends(redis: Redis) -> None:
    bucket = RedisTokenBucket(redis, rate=0.001, burst=10, prefix=f"keel-test:{uuid.uuid4().hex}:")
    assert isinstance(bucket, RateLimiter)
    decisions = await asyncio.gather(*(bucket.acquire("tenant:t1") for _ in range(100)))
    assert sum(d.allowed for d in decisions) == 10
    refused = [d for d in decisions if not d.allowed]
    assert all(d.retry_after > 0 for d in refused)


async def test_redis_bucket_refills(redis: Redis) -> None:
    prefix = f"keel-test:{uuid.uuid4().hex}:"
    bucket = RedisTokenBucket(redis, rate=1000, burst=1, prefix=prefix)
    assert (await bucket.acquire("k")).allowed
    await redis.hset(f"{prefix}k", "ts", "0")  # pretend the last take was long ago
    assert (await bucket.acquire("k")).allowed


async def test_in_process_bucket_under_concurrency() -> None:
    bucket = TokenBucket(rate=0.001, burst=10)
    decisions = await asyncio.gather(*(bucket.acquire("k") for _ in range(100)))
    assert sum(d.allowed for d in decisions) == 10
