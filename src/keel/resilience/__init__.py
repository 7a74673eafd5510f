"""Resilience primitives shared by the model gateway, the tool gateway and the stores:
an injectable `Clock`, `Backoff` with full jitter, and `CircuitBreaker` (one per key,
process-wide, through `breaker_for`)."""

from keel.resilience.backoff import Backoff
from keel.resilience.breaker import (
    BreakerListener,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    CircuitOpenError,
    breaker_for,
    on_breaker_transition,
    reset_breakers,
)
from keel.resilience.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
from keel.resilience.retry import retry

__all__ = [
    "SYSTEM_CLOCK",
    "Backoff",
    "BreakerListener",
    "BreakerState",
    "BreakerTransition",
    "CircuitBreaker",
    "CircuitOpenError",
    "Clock",
    "ManualClock",
    "SystemClock",
    "breaker_for",
    "on_breaker_transition",
    "reset_breakers",
    "retry",
]
