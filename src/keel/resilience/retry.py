"""`retry`: call an async function again on retryable errors, waiting per `Backoff`.

The model gateway has its own loop (it also moves between models and breakers); this
one serves everything else that calls a flaky service (tools, webhooks, stores).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from keel.exceptions import ConfigurationError
from keel.resilience.backoff import Backoff
from keel.resilience.clock import SYSTEM_CLOCK, Clock

__all__ = ["retry"]

T = TypeVar("T")


def _no_retry_after(error: BaseException) -> float | None:
    return getattr(error, "retry_after", None)


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 3,
    retryable: Callable[[BaseException], bool] = lambda e: bool(getattr(e, "retryable", False)),
    backoff: Backoff | None = None,
    clock: Clock = SYSTEM_CLOCK,
    retry_after: Callable[[BaseException], float | None] = _no_retry_after,
) -> T:
    """`await call()` up to `attempts` times; errors `retryable` rejects, and the last
    error, propagate. A `retry_after` longer than the backoff allows propagates at once."""
    if attempts < 1:
        raise ConfigurationError(f"attempts must be >= 1, got {attempts}")
    backoff = backoff or Backoff()
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as error:
            if attempt >= attempts or not retryable(error):
                raise
            delay = backoff.delay(attempt, retry_after(error))
            if delay is None:
                raise
        await clock.sleep(delay)
        attempt += 1
