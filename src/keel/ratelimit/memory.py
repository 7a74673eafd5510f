"""In-process token bucket: one dict of (tokens, last refill) per key; no lock is needed
because each acquire runs without an await between reading and writing the bucket."""

from __future__ import annotations

import time
from collections.abc import Callable

from keel.ratelimit.base import RateDecision, check_bucket, check_request

__all__ = ["TokenBucket"]


class TokenBucket:
    """`rate` tokens per second refill each key's bucket, up to `burst`."""

    def __init__(
        self,
        *,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        check_bucket(rate, burst)
        self.rate, self.burst, self._clock = rate, burst, clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, key: str, cost: float = 1) -> RateDecision:
        return self.take(key, cost)

    def take(self, key: str, cost: float = 1) -> RateDecision:
        """The synchronous form of `acquire`."""
        check_request(key, cost, self.burst)
        now = self._clock()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= cost:
            self._store(key, tokens - cost, now)
            return RateDecision(True, 0.0, tokens - cost)
        self._store(key, tokens, now)
        return RateDecision(False, (cost - tokens) / self.rate, tokens)

    def _store(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self._max_keys:
            self._buckets.pop(next(iter(self._buckets)))  # drop the oldest key: bounded memory
        self._buckets[key] = (tokens, now)
