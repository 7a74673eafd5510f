"""One gateway call's walk through its chain: which model to try next, when to wait,
when to move on, and what failed on the way.

Shared by `request` and `stream`: each loops `for model, breaker in attempts` (a plain
generator: an async one costs a finalizer round trip when left early),
tries the model, and reports the outcome (`succeeded` / `failed`). `failed` raises what
cannot be helped (a bad request), sleeps on the clock before a retry, or lets the loop
move to the next model; the loop ends when the chain is exhausted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from keel.exceptions import ModelError
from keel.models._notes import note
from keel.models.base import Model, ModelRequest
from keel.models.budget import profile_of
from keel.models.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    ModelCallError,
    ModelTimeoutError,
)
from keel.models.gateway.policy import BreakerPolicy, RetryPolicy
from keel.resilience import CircuitBreaker, CircuitOpenError, Clock, breaker_for

__all__ = ["Attempts", "endpoint_of", "label"]


def label(model: Model) -> str:
    return f"{model.provider}:{model.name}"


def endpoint_of(model: Model) -> str:
    """The breaker key: the model's `endpoint` (provider and base URL) if it says one."""
    endpoint = getattr(model, "endpoint", None)
    return endpoint if isinstance(endpoint, str) else label(model)


def moves_on(error: BaseException) -> bool:
    """Whether a later model may succeed where this one failed."""
    if isinstance(error, ModelCallError):
        return error.retryable or isinstance(
            error, ContextLengthExceededError | AuthenticationError
        )
    return isinstance(error, CircuitOpenError | ModelError)


def _counts_against_endpoint(error: BaseException) -> bool:
    # An outage or a bad key is the endpoint's; a too-long prompt or a refusal is the
    # request's, and says nothing about the endpoint's health.
    if isinstance(error, ModelCallError):
        return error.retryable or isinstance(error, AuthenticationError)
    return isinstance(error, ModelError)


@dataclass(slots=True)
class Attempts:
    models: Sequence[Model]
    request: ModelRequest
    retry: RetryPolicy
    breakers: BreakerPolicy
    clock: Clock
    errors: list[BaseException] = field(default_factory=list[BaseException])
    tries: int = 0
    _deadline: float | None = None
    _again: bool = False
    _attempt: int = 0
    """Tries of the current model so far, this one included."""
    _min_window: int = 0

    def __post_init__(self) -> None:
        total = self.retry.total_timeout
        self._deadline = None if total is None else self.clock.now() + total

    def __iter__(self) -> Iterator[tuple[Model, CircuitBreaker]]:
        for index, model in enumerate(self.models):
            if not self._fits(model):
                continue
            breaker = self._breaker(model)
            attempt = 0
            while attempt < self.retry.max_attempts and self._time_left():
                if not breaker.allow():
                    self._skip(model, breaker, index)
                    break
                attempt += 1
                self.tries += 1
                self._attempt, self._again = attempt, False
                yield model, breaker
                if not self._again:
                    break

    def _fits(self, model: Model) -> bool:
        if self._min_window and profile_of(model).context_window <= self._min_window:
            note("fallback", f"skipped {label(model)}: its context window is no larger")
            return False
        return True

    def _breaker(self, model: Model) -> CircuitBreaker:
        return breaker_for(
            endpoint_of(model),
            failure_threshold=self.breakers.failure_threshold,
            reset_timeout=self.breakers.reset_timeout,
            clock=self.clock,
        )

    def _skip(self, model: Model, breaker: CircuitBreaker, index: int) -> None:
        error = CircuitOpenError(breaker.key, breaker.retry_in)
        self.errors.append(error)
        if index + 1 < len(self.models):
            note("fallback", f"skipped {label(model)}: {error}")

    def _time_left(self) -> bool:
        return self._deadline is None or self.clock.now() < self._deadline

    def timeout(self) -> float | None:
        """Seconds the next try may take: the attempt timeout, within the total."""
        limits = [t for t in (self.retry.attempt_timeout, self._remaining()) if t is not None]
        return min(limits) if limits else None

    def _remaining(self) -> float | None:
        return None if self._deadline is None else max(self._deadline - self.clock.now(), 0.0)

    def succeeded(self, breaker: CircuitBreaker) -> None:
        breaker.record_success()

    async def failed(self, model: Model, breaker: CircuitBreaker, error: BaseException) -> None:
        """Record a failed try; raise it if nothing can help, else wait for a retry (or
        return, for the loop to move to the next model)."""
        error = self._typed(model, error)
        self.errors.append(error)
        if _counts_against_endpoint(error):
            breaker.record_failure(f"{type(error).__name__}: {error}")
        else:  # the endpoint answered (a too-long prompt, a bad request): it is up
            breaker.record_success()
        if not moves_on(error):
            raise error
        if isinstance(error, ContextLengthExceededError):
            self._min_window = max(self._min_window, profile_of(model).context_window)
            note("fallback", f"{label(model)}: context too long; trying a larger window")
            return
        await self._wait_to_retry(model, error)

    async def _wait_to_retry(self, model: Model, error: BaseException) -> None:
        retryable = isinstance(error, ModelCallError) and error.retryable
        attempt = self._attempt
        if not retryable or attempt >= self.retry.max_attempts:
            note("fallback", f"{label(model)} failed ({_kind(error)}): moving on")
            return
        retry_after = error.retry_after if isinstance(error, ModelCallError) else None
        delay = self.retry.backoff.delay(attempt, retry_after)
        remaining = self._remaining()
        if delay is None or (remaining is not None and delay >= remaining):
            note("fallback", f"{label(model)} failed ({_kind(error)}); no time to wait: moving on")
            return
        note(
            "retry", f"{label(model)} failed ({_kind(error)}); retry {attempt + 1} in {delay:.2f}s"
        )
        await self.clock.sleep(delay)
        self._again = True

    def broke_mid_stream(
        self, model: Model, breaker: CircuitBreaker, error: BaseException
    ) -> BaseException:
        """A stream failed after the client saw text: record it; the caller raises it
        (a retry or a fallback now would show the client a second, different answer)."""
        error = self._typed(model, error)
        self.errors.append(error)
        if _counts_against_endpoint(error):
            breaker.record_failure(f"stream broke after text: {error}")
        else:
            breaker.record_success()
        note("fallback", f"{label(model)} failed mid-stream ({_kind(error)}): not retried")
        return error

    def _typed(self, model: Model, error: BaseException) -> BaseException:
        if isinstance(error, TimeoutError):
            return ModelTimeoutError(
                f"{label(model)} did not answer in time (attempt timeout "
                f"{self.retry.attempt_timeout}s, total {self.retry.total_timeout}s)",
                provider=model.provider,
                model=model.name,
            )
        return error


def _kind(error: BaseException) -> str:
    return getattr(error, "kind", type(error).__name__)
