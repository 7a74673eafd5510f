"""A gateway from configuration (a dict, JSON or TOML), checked whole before anything is
built: a bad fallback chain, retry setting or price fails at load, naming the field.

    [[models]]
    model = "openai:gpt-4o"
    timeout = 30
    [[models]]
    model = "anthropic:claude-sonnet-4"
    api_key_env = "CLAUDE_KEY"
    [retry]
    max_attempts = 2
    [profiles."openai:gpt-4o"]
    input_price = 2.0

    gateway = gateway_from_config(tomllib.load(open("models.toml", "rb")))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from keel.exceptions import ConfigurationError
from keel.models.base import Model
from keel.models.gateway import BreakerPolicy, LastResort, ModelGateway, RetryPolicy
from keel.models.profiles import PROFILES
from keel.models.registry import infer_model
from keel.resilience import Backoff

__all__ = ["GatewayConfig", "gateway_from_config"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    model: str = Field(pattern=r"^[^:\s]+:\S+$")
    """`provider:model`."""
    base_url: str | None = None
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict[str, str])
    timeout: float | None = Field(default=None, gt=0)


class RetryConfig(_Strict):
    max_attempts: int = Field(default=3, ge=1)
    attempt_timeout: float | None = Field(default=60.0, gt=0)
    total_timeout: float | None = Field(default=120.0, gt=0)
    backoff_base: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=20.0, ge=0)
    max_retry_after: float = Field(default=30.0, ge=0)


class BreakerConfig(_Strict):
    failure_threshold: int = Field(default=5, ge=1)
    reset_timeout: float = Field(default=30.0, ge=0)


class GatewayConfig(_Strict):
    models: list[str | ModelConfig] = Field(min_length=1)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    last_resort_reply: str | None = Field(default=None, min_length=1)
    open_ticket: bool = True
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict[str, dict[str, Any]])


def _openai(name: str, options: dict[str, Any]) -> Model:
    from keel.models.openai import OpenAIModel

    return OpenAIModel(name, **options)


def _azure(name: str, options: dict[str, Any]) -> Model:
    from keel.models.openai import OpenAIModel

    endpoint = options.pop("base_url", None)
    return OpenAIModel.azure(name, endpoint=endpoint, **options)


def _anthropic(name: str, options: dict[str, Any]) -> Model:
    from keel.models.anthropic import AnthropicModel

    return AnthropicModel(name, **options)


_WITH_OPTIONS: dict[str, Callable[[str, dict[str, Any]], Model]] = {
    "openai": _openai,
    "azure": _azure,
    "anthropic": _anthropic,
}


def _build_at(entry: str | ModelConfig, index: int) -> Model:
    try:
        return _build(entry)
    except ConfigurationError as exc:
        raise ConfigurationError(f"bad gateway configuration: models.{index}: {exc}") from exc


def _build(entry: str | ModelConfig) -> Model:
    if isinstance(entry, str):
        return infer_model(entry)
    provider, _, name = entry.model.partition(":")
    options = entry.model_dump(exclude={"model"}, exclude_none=True, exclude_defaults=True)
    if not options:
        return infer_model(entry.model)
    factory = _WITH_OPTIONS.get(provider)
    if factory is None:
        raise ConfigurationError(
            f"provider {provider!r} takes no options here (only "
            f"{', '.join(sorted(_WITH_OPTIONS))} do); give it as a string"
        )
    return factory(name, options)


def gateway_from_config(data: Mapping[str, Any]) -> ModelGateway:
    """Validate `data` whole, apply its `profiles`, and build the gateway."""
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"bad gateway configuration: {problems}") from None
    if config.profiles:
        PROFILES.update(config.profiles)
    retry = config.retry
    backoff = Backoff(
        base=retry.backoff_base, max_delay=retry.backoff_max, max_retry_after=retry.max_retry_after
    )
    return ModelGateway(
        [_build_at(entry, i) for i, entry in enumerate(config.models)],
        retry=RetryPolicy(
            max_attempts=retry.max_attempts,
            backoff=backoff,
            attempt_timeout=retry.attempt_timeout,
            total_timeout=retry.total_timeout,
        ),
        breaker=BreakerPolicy(
            failure_threshold=config.breaker.failure_threshold,
            reset_timeout=config.breaker.reset_timeout,
        ),
        last_resort=LastResort(
            reply=config.last_resort_reply or LastResort().reply, open_ticket=config.open_ticket
        ),
    )
