"""`Backoff`: how long to wait before retry number N.

Exponential with *full jitter* (a uniform draw between 0 and the exponential cap, as in
AWS's "Exponential Backoff and Jitter"): many clients failing together spread their
retries instead of returning in lock-step. A server's `Retry-After` wins over the draw;
one longer than `max_retry_after` means "do not wait here" (`None`), so a caller moves on
— to a fallback model, say — rather than hold a user for minutes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from keel.exceptions import ConfigurationError

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays for retries: attempt 1 waits up to `base`, attempt 2 up to `base*factor`…"""

    base: float = 0.5
    factor: float = 2.0
    max_delay: float = 20.0
    max_retry_after: float = 30.0
    """A server asking for a longer wait than this is not waited for (`delay` → None)."""
    jitter: bool = True
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)
    """A draw in [0, 1); inject a fixed one in tests."""

    def __post_init__(self) -> None:
        for name in ("base", "max_delay", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"Backoff.{name} must be >= 0, got {getattr(self, name)}")
        if self.factor < 1:
            raise ConfigurationError(f"Backoff.factor must be >= 1, got {self.factor}")

    def cap(self, attempt: int) -> float:
        """The most retry `attempt` (1-based) may wait before jitter."""
        return min(self.max_delay, self.base * self.factor ** max(attempt - 1, 0))

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry `attempt`; None when the server asks too much."""
        if retry_after is not None:
            retry_after = max(retry_after, 0.0)
            return retry_after if retry_after <= self.max_retry_after else None
        cap = self.cap(attempt)
        return cap * self.random() if self.jitter else cap
