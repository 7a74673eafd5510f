from __future__ import annotations

import pytest

from keel.exceptions import ConfigurationError
from keel.resilience import Backoff, ManualClock, retry


def test_full_jitter_draws_between_zero_and_the_exponential_cap() -> None:
    draws = iter([0.0, 0.5, 0.999])
    backoff = Backoff(base=1.0, factor=2.0, max_delay=10.0, random=lambda: next(draws))
    assert backoff.delay(1) == 0.0
    assert backoff.delay(2) == pytest.approx(1.0)  # half of the cap 2.0
    assert backoff.delay(5) == pytest.approx(9.99)  # cap 16 clipped to max_delay 10


def test_without_jitter_the_delay_is_the_cap() -> None:
    backoff = Backoff(base=0.5, factor=3.0, max_delay=100, jitter=False)
    assert [backoff.delay(n) for n in (1, 2, 3)] == [0.5, 1.5, 4.5]


def test_retry_after_wins_over_the_draw_and_too_long_means_move_on() -> None:
    backoff = Backoff(base=1.0, max_retry_after=10.0, random=lambda: 0.9)
    assert backoff.delay(1, retry_after=7.0) == 7.0
    assert backoff.delay(3, retry_after=0.0) == 0.0
    assert backoff.delay(1, retry_after=11.0) is None


def test_bad_backoff_settings_name_the_field() -> None:
    with pytest.raises(ConfigurationError, match=r"Backoff\.base"):
        Backoff(base=-1)
    with pytest.raises(ConfigurationError, match=r"Backoff\.factor"):
        Backoff(factor=0.5)


class Flaky(Exception):
    def __init__(self, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retryable = retryable
        self.retry_after = retry_after


async def test_retry_waits_per_backoff_on_the_clock_and_returns_the_success() -> None:
    clock = ManualClock()
    outcomes: list[Exception | str] = [Flaky(), Flaky(retry_after=4.0), "ok"]

    async def call() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    backoff = Backoff(base=1.0, random=lambda: 0.5)
    assert await retry(call, attempts=3, backoff=backoff, clock=clock) == "ok"
    assert clock.sleeps == [0.5, 4.0]
    assert clock.now() == 4.5


async def test_retry_gives_up_after_max_attempts_and_on_non_retryable_errors() -> None:
    clock = ManualClock()
    calls = 0

    async def always_fails() -> None:
        nonlocal calls
        calls += 1
        raise Flaky()

    with pytest.raises(Flaky):
        await retry(always_fails, attempts=3, clock=clock)
    assert calls == 3 and len(clock.sleeps) == 2

    async def fatal() -> None:
        raise Flaky(retryable=False)

    with pytest.raises(Flaky):
        await retry(fatal, attempts=5, clock=clock)
    assert len(clock.sleeps) == 2  # no wait for an error that cannot pass


async def test_manual_clock_refuses_to_go_back() -> None:
    clock = ManualClock(start=5.0)
    clock.advance(1.0)
    await clock.sleep(2.0)
    assert clock.now() == 8.0
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
