"""What the hosted providers share: keys from the environment, SDK errors as Keel's typed
errors, Retry-After, deterministic decisions, stop reasons and prices.

Both official SDKs (`openai`, `anthropic`) derive from the same generated base, with the
same exception names (`APIStatusError`, `APITimeoutError`, `APIConnectionError`), so one
mapping serves both, given the SDK module.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import Any

from keel.exceptions import ConfigurationError
from keel.messages import Usage
from keel.models.base import ModelRequest, ModelSettings
from keel.models.errors import (
    AuthenticationError,
    BadRequestError,
    ContentRefusedError,
    ContextLengthExceededError,
    MalformedResponseError,
    ModelCallError,
    ModelConnectionError,
    ModelOverloadedError,
    ModelTimeoutError,
    RateLimitedError,
)
from keel.models.profiles import ModelProfile

__all__ = [
    "DECISION_SEED",
    "decision_settings",
    "map_sdk_error",
    "parse_arguments",
    "priced",
    "resolve_key",
    "retry_after_of",
]

DECISION_SEED = 0
"""The seed a structured-output request gets when it names none (see `decision_settings`)."""

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "prompt is too long",
    "context window",
    "too many tokens",
)


def resolve_key(explicit: str | None, env_var: str, label: str) -> str:
    """The API key given, else the one in `env_var`; ConfigurationError names both."""
    key = explicit if explicit is not None else os.environ.get(env_var)
    if not key:
        raise ConfigurationError(
            f"{label} needs an API key: set the {env_var} environment variable, or pass "
            f"api_key=… (or api_key_env='OTHER_VARIABLE') to the model"
        )
    return key


def decision_settings(request: ModelRequest) -> ModelSettings:
    """Settings for the call: a structured-output request (a decision, a classification)
    is greedy and seeded unless the agent chose otherwise — the same question gets the
    same answer; free text keeps the provider's defaults."""
    settings = request.settings
    if request.output_schema is None:
        return settings
    if settings.temperature is None or settings.seed is None:
        settings = replace(
            settings,
            temperature=0.0 if settings.temperature is None else settings.temperature,
            seed=DECISION_SEED if settings.seed is None else settings.seed,
        )
    return settings


def priced(usage: Usage, profile: ModelProfile) -> Usage:
    usage.cost = profile.cost(usage)
    return usage


def parse_arguments(
    raw: str | dict[str, Any] | None, *, provider: str, model: str
) -> dict[str, Any]:
    """Tool-call arguments as a dict; anything else is a malformed answer (retryable)."""
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise MalformedResponseError(
            f"{provider}:{model} sent tool arguments that are not JSON: {exc}",
            provider=provider,
            model=model,
        ) from None
    if not isinstance(value, dict):
        raise MalformedResponseError(
            f"{provider}:{model} sent tool arguments that are not a JSON object",
            provider=provider,
            model=model,
        )
    return value  # pyright: ignore[reportUnknownVariableType]


def retry_after_of(headers: Any) -> float | None:
    """Seconds from `retry-after-ms`, `retry-after` (seconds or an HTTP date), else None."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def map_sdk_error(error: Exception, sdk: ModuleType, provider: str, model: str) -> ModelCallError:
    """The typed Keel error for an SDK (or transport) exception."""
    where = f"{provider}:{model}"
    kwargs: dict[str, Any] = {"provider": provider, "model": model}
    if isinstance(error, sdk.APITimeoutError):
        return ModelTimeoutError(f"{where} timed out", **kwargs)
    if isinstance(error, sdk.APIConnectionError):
        cause = error.__cause__ or error
        return ModelConnectionError(f"{where}: connection failed: {cause!r}", **kwargs)
    if isinstance(error, sdk.APIStatusError):
        return _status_error(error, where, kwargs)
    if isinstance(error, ValueError):  # json.JSONDecodeError and pydantic's, on a 200
        return MalformedResponseError(f"{where} sent a malformed response: {error}", **kwargs)
    if "Timeout" in type(error).__name__:  # the transport's own (httpx2.ReadTimeout…)
        return ModelTimeoutError(f"{where} timed out: {error!r}", **kwargs)
    return ModelConnectionError(f"{where}: {type(error).__name__}: {error}", **kwargs)


def _status_error(error: Any, where: str, kwargs: dict[str, Any]) -> ModelCallError:
    status: int = error.status_code
    message = f"{where} answered HTTP {status}: {_message_of(error)}"
    kind = _status_kind(status, message.lower())
    if kind.retryable:
        kwargs["retry_after"] = retry_after_of(error.response.headers)
    return kind(message, status_code=status, **kwargs)


def _status_kind(status: int, text: str) -> type[ModelCallError]:
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ModelOverloadedError
    if status in (401, 403):
        return AuthenticationError
    if status == 413 or any(marker in text for marker in _CONTEXT_MARKERS):
        return ContextLengthExceededError
    if "content_filter" in text or "content management policy" in text:
        return ContentRefusedError
    return ModelTimeoutError if status == 408 else BadRequestError


def _message_of(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if isinstance(inner, dict):
            code = inner.get("code")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            text = str(inner.get("message", ""))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            return f"{text} ({code})" if code else text
    return str(getattr(error, "message", error))
