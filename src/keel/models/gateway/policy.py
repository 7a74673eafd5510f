"""The gateway's settings: retries, breakers and the last tier, each validated at load."""

from __future__ import annotations

from dataclasses import dataclass, field

from keel.exceptions import ConfigurationError
from keel.resilience import Backoff
from keel.tickets import TicketSink

__all__ = ["DEFAULT_REPLY", "BreakerPolicy", "LastResort", "RetryPolicy"]

DEFAULT_REPLY = (
    "I'm sorry — I can't answer right now: the AI service behind me is unavailable. "
    "I've opened a support ticket so that someone follows up; please try again later."
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How each model of a chain is tried.

    `max_attempts` counts tries of one model (1 = no retry). `attempt_timeout` bounds one
    try (for a stream: until its first event); `total_timeout` bounds the whole call,
    waits included — a retry whose wait would pass it is not made, the chain moves on.
    """

    max_attempts: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    attempt_timeout: float | None = 60.0
    total_timeout: float | None = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError(
                f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}"
            )
        for name in ("attempt_timeout", "total_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigurationError(f"RetryPolicy.{name} must be > 0 or None, got {value}")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """The settings a provider endpoint's process-wide breaker is made with (first use
    wins: every gateway naming that endpoint shares one breaker)."""

    failure_threshold: int = 5
    reset_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ConfigurationError(
                f"BreakerPolicy.failure_threshold must be at least 1, got {self.failure_threshold}"
            )
        if self.reset_timeout < 0:
            raise ConfigurationError(
                f"BreakerPolicy.reset_timeout must be >= 0, got {self.reset_timeout}"
            )


@dataclass(frozen=True, slots=True)
class LastResort:
    """What happens when every model failed: the user reads `reply` (a text answer), a
    ticket goes to `tickets` — by default stored in `$KEEL_HOME/keel.db`, the default
    app database (pass `app.ticket_store` for another) — and the run goes on.

    A run whose output is not text cannot be given an invented output: it ends with
    `ModelUnavailableError`, a `RunBlocked` carrying the same `reply` and the ticket id.
    """

    reply: str = DEFAULT_REPLY
    tickets: TicketSink | None = None
    open_ticket: bool = True

    def __post_init__(self) -> None:
        if not self.reply.strip():
            raise ConfigurationError("LastResort.reply must say something to the user")
