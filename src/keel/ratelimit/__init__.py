"""Rate limits: token buckets keyed by whatever the caller names (an API key, a user, a
tenant). `TokenBucket` lives in one process; `RedisTokenBucket` is shared by every
process on one Redis, refilled and taken in one atomic Lua script.

    limiter = TokenBucket(rate=5, burst=10)        # 5 per second, bursts of 10
    decision = await limiter.acquire("user:42")
    if not decision.allowed:
        ...  # retry after decision.retry_after seconds
"""

from typing import TYPE_CHECKING

from keel.ratelimit.base import RateDecision, RateLimiter
from keel.ratelimit.memory import TokenBucket

if TYPE_CHECKING:
    from keel.ratelimit.redis import RedisTokenBucket

__all__ = ["RateDecision", "RateLimiter", "RedisTokenBucket", "TokenBucket"]


def __getattr__(name: str) -> object:
    if name == "RedisTokenBucket":  # redis-py is an extra: imported only when asked for
        from keel.ratelimit.redis import RedisTokenBucket

        return RedisTokenBucket
    raise AttributeError(name)
