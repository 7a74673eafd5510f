from __future__ import annotations

from collections.abc import Iterator

import pytest

from keel.resilience import (
    BreakerTransition,
    CircuitBreaker,
    CircuitOpenError,
    ManualClock,
    breaker_for,
    on_breaker_transition,
    reset_breakers,
)


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    reset_breakers()
    yield
    reset_breakers()


def _breaker(clock: ManualClock, **kwargs: int) -> tuple[CircuitBreaker, list[BreakerTransition]]:
    breaker = CircuitBreaker("api", failure_threshold=3, reset_timeout=10.0, clock=clock, **kwargs)
    seen: list[BreakerTransition] = []
    breaker.subscribe(seen.append)
    return breaker, seen


def test_opens_after_threshold_consecutive_failures_and_refuses_calls() -> None:
    clock = ManualClock()
    breaker, seen = _breaker(clock)
    breaker.record_failure()
    breaker.record_success()  # resets the count: failures must be consecutive
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure("HTTP 503")
    assert breaker.state == "open"
    assert not breaker.allow()
    with pytest.raises(CircuitOpenError, match="'api' is open") as raised:
        breaker.check()
    assert raised.value.retry_in == 10.0
    assert [(t.old, t.new) for t in seen] == [("closed", "open")]
    assert "HTTP 503" in seen[0].reason


def test_half_open_lets_one_probe_through_and_a_success_closes() -> None:
    clock = ManualClock()
    breaker, seen = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(9.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state == "half_open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # a second caller waits for the probe's outcome
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()
    assert [(t.old, t.new) for t in seen] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


def test_a_failed_probe_opens_again_for_a_full_timeout() -> None:
    clock = ManualClock()
    breaker, _ = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(10)
    assert breaker.allow()
    breaker.record_failure("still down")
    assert breaker.state == "open"
    assert breaker.retry_in == 10.0
    clock.advance(5)
    assert not breaker.allow()


def test_breaker_for_is_one_breaker_per_key_for_the_process() -> None:
    clock = ManualClock()
    first = breaker_for("openai:https://api.example/v1", failure_threshold=2, clock=clock)
    again = breaker_for("openai:https://api.example/v1", failure_threshold=99)
    assert first is again and again.failure_threshold == 2
    assert breaker_for("anthropic:https://other/") is not first


def test_global_listeners_see_every_breaker() -> None:
    seen: list[str] = []
    unsubscribe = on_breaker_transition(lambda t: seen.append(f"{t.key}:{t.new}"))
    try:
        breaker = breaker_for("k", failure_threshold=1, clock=ManualClock())
        breaker.record_failure()
        breaker.reset()
    finally:
        unsubscribe()
    assert seen == ["k:open", "k:closed"]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker("x", failure_threshold=0)


def test_a_released_probe_lets_another_call_probe() -> None:
    clock = ManualClock()
    breaker, _ = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(10)
    assert breaker.allow()
    assert not breaker.allow()
    breaker.release()  # the probe was cancelled: no verdict
    assert breaker.allow()
    assert breaker.state == "half_open"
