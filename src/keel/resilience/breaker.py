"""`CircuitBreaker`: stop calling an endpoint that keeps failing, probe it now and then.

Closed (calls pass; consecutive failures are counted) → open after `failure_threshold`
of them (calls are refused at once with `CircuitOpenError`, for `reset_timeout`
seconds) → half-open (up to `half_open_probes` calls pass as probes: one success closes
the breaker, a failure opens it again for another `reset_timeout`).

A few lines rather than a library (pybreaker, aiobreaker): those tie the breaker to
their own call wrapper, clock and storage, while Keel needs an injectable clock, an
explicit allow/record split (a streamed call succeeds at its first token, not when the
coroutine returns) and transitions it can put on spans and run events.

`breaker_for(key)` returns one breaker per key for the whole process, so every run and
every agent calling `openai:https://api.openai.com/v1` shares what the others learnt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from keel.exceptions import ConfigurationError, KeelError
from keel.resilience.clock import SYSTEM_CLOCK, Clock

__all__ = [
    "BreakerListener",
    "BreakerState",
    "BreakerTransition",
    "CircuitBreaker",
    "CircuitOpenError",
    "breaker_for",
    "on_breaker_transition",
    "reset_breakers",
    "shared_breakers",
]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """A breaker changed state: what it guards (`key`), from, to, when and why."""

    key: str
    old: BreakerState
    new: BreakerState
    at: float
    reason: str


BreakerListener = Callable[[BreakerTransition], None]


class CircuitOpenError(KeelError):
    """A call was refused because its breaker is open; `retry_in` says for how long."""

    def __init__(self, key: str, retry_in: float) -> None:
        super().__init__(
            f"circuit breaker for {key!r} is open after repeated failures; "
            f"calls resume with a probe in {retry_in:.1f}s"
        )
        self.key = key
        self.retry_in = retry_in


class CircuitBreaker:
    """Counts consecutive failures of one endpoint; see the module docstring."""

    def __init__(
        self,
        key: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_probes: int = 1,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if failure_threshold < 1:
            raise ConfigurationError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if reset_timeout < 0:
            raise ConfigurationError(f"reset_timeout must be >= 0, got {reset_timeout}")
        if half_open_probes < 1:
            raise ConfigurationError(f"half_open_probes must be >= 1, got {half_open_probes}")
        self.key = key
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.half_open_probes = half_open_probes
        self.clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0
        self._lock = threading.RLock()  # listeners may read the state
        self._listeners: list[BreakerListener] = []

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker past its timeout reads half-open)."""
        with self._lock:
            if self._state == "open" and self._retry_in() <= 0:
                return "half_open"
            return self._state

    @property
    def failures(self) -> int:
        return self._failures

    def subscribe(self, listener: BreakerListener) -> Callable[[], None]:
        """Call `listener` on every transition of this breaker; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def allow(self) -> bool:
        """May a call go out now? Moves open → half-open once `reset_timeout` has passed
        and counts the call as a probe; call `record_success`/`record_failure` after."""
        with self._lock:
            if self._state == "closed":
                return True
            if self._state == "open":
                if self._retry_in() > 0:
                    return False
                self._move("half_open", "reset timeout passed; probing")
                self._probes = 0
            if self._probes >= self.half_open_probes:
                return False
            self._probes += 1
            return True

    def check(self) -> None:
        """`allow()`, raising `CircuitOpenError` when the call may not go out."""
        if not self.allow():
            raise CircuitOpenError(self.key, max(self.retry_in, 0.0))

    @property
    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 unless open)."""
        with self._lock:
            return max(self._retry_in(), 0.0) if self._state == "open" else 0.0

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            if self._state != "closed":
                self._move("closed", "a call succeeded")

    def record_failure(self, reason: str = "call failed") -> None:
        with self._lock:
            self._failures += 1
            if self._state == "half_open":
                self._open(f"probe failed: {reason}")
            elif self._state == "closed" and self._failures >= self.failure_threshold:
                self._open(f"{self._failures} consecutive failures, last: {reason}")

    def release(self) -> None:
        """A call that `allow` let out ended with no verdict on the endpoint (cancelled,
        abandoned): free its half-open probe slot so that another call can probe."""
        with self._lock:
            if self._state == "half_open" and self._probes > 0:
                self._probes -= 1

    def reset(self) -> None:
        """Back to closed with no failures counted (an operator's override)."""
        with self._lock:
            self._failures = 0
            if self._state != "closed":
                self._move("closed", "reset")

    def _open(self, reason: str) -> None:
        self._opened_at = self.clock.now()
        self._move("open", reason)

    def _retry_in(self) -> float:
        return self._opened_at + self.reset_timeout - self.clock.now()

    def _move(self, new: BreakerState, reason: str) -> None:
        old, self._state = self._state, new
        transition = BreakerTransition(self.key, old, new, self.clock.now(), reason)
        for listener in (*self._listeners, *_global_listeners):
            listener(transition)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.key!r}, state={self._state!r}, failures={self._failures})"


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()
_global_listeners: list[BreakerListener] = []


def breaker_for(
    key: str,
    *,
    failure_threshold: int = 5,
    reset_timeout: float = 30.0,
    half_open_probes: int = 1,
    clock: Clock = SYSTEM_CLOCK,
) -> CircuitBreaker:
    """The process-wide breaker for `key` (e.g. a provider endpoint), made on first use
    with these settings; later calls get the same object whatever settings they pass."""
    breaker = _breakers.get(key)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.get(key)
            if breaker is None:
                breaker = _breakers[key] = CircuitBreaker(
                    key,
                    failure_threshold=failure_threshold,
                    reset_timeout=reset_timeout,
                    half_open_probes=half_open_probes,
                    clock=clock,
                )
    return breaker


def on_breaker_transition(listener: BreakerListener) -> Callable[[], None]:
    """Call `listener` on every transition of every breaker (metrics, logs); returns an
    unsubscribe function."""
    _global_listeners.append(listener)
    return lambda: _global_listeners.remove(listener)


def shared_breakers() -> dict[str, CircuitBreaker]:
    """The process-wide breakers `breaker_for` made, by key (a copy: metrics read it)."""
    return dict(_breakers)


def reset_breakers() -> None:
    """Forget every shared breaker (tests; an operator's restart of the process)."""
    with _breakers_lock:
        _breakers.clear()
