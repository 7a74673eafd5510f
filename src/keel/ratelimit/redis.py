"""Token bucket on Redis: refill and take happen in one Lua script, so concurrent
processes can never both spend the last token. Redis's own clock (`TIME`) is used, so
hosts with skewed clocks agree. Requires the `security` extra (redis-py)."""

from __future__ import annotations

from typing import Any

from keel.exceptions import MissingExtraError
from keel.ratelimit.base import RateDecision, check_bucket, check_request

try:
    from redis.asyncio import Redis
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("RedisTokenBucket", "security") from exc

__all__ = ["RedisTokenBucket"]

_SCRIPT = """
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, ts = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= cost then tokens = tokens - cost; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if allowed == 0 then wait = (cost - tokens) / rate end
return {allowed, tostring(wait), tostring(tokens)}
"""


class RedisTokenBucket:
    """`rate` tokens per second, up to `burst`, per key, shared through Redis."""

    def __init__(
        self, redis: Redis, *, rate: float, burst: float, prefix: str = "keel:rl:"
    ) -> None:
        check_bucket(rate, burst)
        self.rate, self.burst, self.prefix = rate, burst, prefix
        self._redis = redis
        self._script: Any = redis.register_script(_SCRIPT)

    async def acquire(self, key: str, cost: float = 1) -> RateDecision:
        check_request(key, cost, self.burst)
        keys = [self.prefix + key]
        allowed, wait, tokens = await self._script(keys=keys, args=[self.rate, self.burst, cost])
        return RateDecision(bool(int(allowed)), float(wait), float(tokens))
