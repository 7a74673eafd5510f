"""The `RateLimiter` protocol and its answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from keel.exceptions import ConfigurationError

__all__ = ["RateDecision", "RateLimiter", "check_bucket"]


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after: float = 0.0
    """Seconds until `cost` tokens will be there (0 when allowed)."""
    remaining: float = 0.0
    """Tokens left in the bucket after this decision."""


@runtime_checkable
class RateLimiter(Protocol):
    async def acquire(self, key: str, cost: float = 1) -> RateDecision:
        """Take `cost` tokens from `key`'s bucket if it has them; never waits."""
        ...


def check_bucket(rate: float, burst: float) -> None:
    if not rate > 0:
        raise ConfigurationError(f"rate must be > 0 tokens per second, got {rate}")
    if not burst >= 1:
        raise ConfigurationError(f"burst must be >= 1 token, got {burst}")


def check_request(key: str, cost: float, burst: float) -> None:
    if not key:
        raise ValueError("rate limit key is empty")
    if not 0 < cost <= burst:
        raise ValueError(f"cost must be > 0 and <= burst ({burst}), got {cost}")
