"""Typed model errors: what went wrong with a model call, and whether trying again can help.

Providers translate their SDK's exceptions into these (see `openai.py`, `anthropic.py`),
so the gateway decides on retries, breakers and fallbacks without knowing a provider:
`retryable` says whether the same call may succeed later, `retry_after` carries a
server's `Retry-After`, and `ContextLengthExceededError` tells a fallback chain to move
to a model with a larger window.
"""

from __future__ import annotations

from typing import ClassVar

from keel.exceptions import ModelError, RunBlocked

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ContentRefusedError",
    "ContextLengthExceededError",
    "MalformedResponseError",
    "ModelCallError",
    "ModelConnectionError",
    "ModelOverloadedError",
    "ModelTimeoutError",
    "ModelUnavailableError",
    "RateLimitedError",
]


class ModelCallError(ModelError):
    """A model call failed. `retryable`: may the same call succeed if tried again?"""

    retryable: ClassVar[bool] = False
    kind: ClassVar[str] = "model_error"
    """A short, stable name for events, spans (`error.type`) and tickets."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def endpoint(self) -> str:
        return f"{self.provider}:{self.model}"


class RateLimitedError(ModelCallError):
    """HTTP 429: too many requests or tokens; `retry_after` is the server's wish, if said."""

    retryable = True
    kind = "rate_limited"


class ModelOverloadedError(ModelCallError):
    """HTTP 5xx or Anthropic's 529 `overloaded_error`: the provider is struggling."""

    retryable = True
    kind = "overloaded"


class ModelTimeoutError(ModelCallError):
    """No (complete) answer within the attempt's timeout."""

    retryable = True
    kind = "timeout"


class ModelConnectionError(ModelCallError):
    """The connection failed or was reset before an answer came back."""

    retryable = True
    kind = "connection"


class MalformedResponseError(ModelCallError):
    """The provider answered something that is not its documented format (bad JSON, a
    stream cut before its end, tool arguments that are not a JSON object)."""

    retryable = True
    kind = "malformed_response"


class ContextLengthExceededError(ModelCallError):
    """The request does not fit the model's context window: retrying cannot help, a model
    with a larger window can."""

    kind = "context_length"


class ContentRefusedError(ModelCallError):
    """The provider refused the content (a safety filter, `refusal`)."""

    kind = "content_refused"


class AuthenticationError(ModelCallError):
    """HTTP 401/403: the key is missing, wrong or lacks permission."""

    kind = "authentication"


class BadRequestError(ModelCallError):
    """Any other HTTP 4xx: the request itself is wrong (a bug, not an outage)."""

    kind = "bad_request"


class ModelUnavailableError(RunBlocked):
    """Every model tier failed for a run whose output is not text: the run ends with an
    honest `reply` (and a support ticket, `ticket_id`) instead of inventing an output."""

    def __init__(self, message: str, *, reply: str, ticket_id: str | None) -> None:
        super().__init__(message, reply=reply)
        self.ticket_id = ticket_id
