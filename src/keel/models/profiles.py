"""Per-model facts in one overridable table: context window, output cap, what the model
supports, and list prices — so nothing outside `keel.models` asks which provider it is.

Keys are `provider:model`; a model name also matches the longest key that is a prefix of
it, so `openai:gpt-4o-2024-08-06` finds `openai:gpt-4o`. Unknown models get a
conservative profile (8k window, no prices) until one is registered.

Prices are USD per 1M tokens, list prices as the providers published them in 2025; yours
may differ (a discount, a batch tier), and a model newer than the table is unpriced
(cost 0) until you add it — override or extend it:

    from keel.models.profiles import PROFILES
    PROFILES.update({"openai:gpt-4o": {"input_price": 2.0}})          # merge into one
    PROFILES.update({"azure:my-deployment": {"context_window": 128000, ...}})

A bad value fails at load with the key and field named.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from keel.exceptions import ConfigurationError
from keel.messages import Usage

__all__ = ["PROFILES", "ModelProfile", "ProfileTable", "profile_for"]

_PER_MILLION = 1_000_000


class ModelProfile(BaseModel):
    """What Keel knows about one model. Prices are USD per 1M tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    context_window: int = Field(default=8_192, gt=0)
    max_output_tokens: int = Field(default=4_096, gt=0)
    supports_tools: bool = True
    supports_json_schema: bool = False
    """Native json_schema structured output; otherwise the schema is prompted and validated."""
    supports_streaming: bool = True
    input_price: float = Field(default=0.0, ge=0)
    cached_input_price: float | None = Field(default=None, ge=0)
    """Price of input tokens read from the provider's prompt cache; None: as `input_price`."""
    output_price: float = Field(default=0.0, ge=0)
    encoding: str = "o200k_base"
    """The quicktok encoding used to count tokens offline when a provider reports none."""

    def cost(self, usage: Usage) -> float:
        """USD for `usage`: cached input at its own price, the rest of the input at
        `input_price`, output at `output_price`."""
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        cached_price = (
            self.input_price if self.cached_input_price is None else (self.cached_input_price)
        )
        return (
            (usage.input_tokens - cached) * self.input_price
            + cached * cached_price
            + usage.output_tokens * self.output_price
        ) / _PER_MILLION

    def worst_case_cost(self, input_tokens: int, max_output_tokens: int | None = None) -> float:
        """The most a call with `input_tokens` of prompt can cost (no cache hits, the
        longest answer allowed)."""
        output = self.max_output_tokens if max_output_tokens is None else max_output_tokens
        return (input_tokens * self.input_price + output * self.output_price) / _PER_MILLION


def _p(window: int, out: int, price_in: float, cached: float, price_out: float, **kw: Any) -> Any:
    return {
        "context_window": window,
        "max_output_tokens": out,
        "input_price": price_in,
        "cached_input_price": cached,
        "output_price": price_out,
        **kw,
    }


_OPENAI = {"supports_json_schema": True, "encoding": "o200k_base"}
_ANTHROPIC = {"supports_json_schema": False, "encoding": "cl100k_base"}
_ANTHROPIC_NATIVE = {"supports_json_schema": True, "encoding": "cl100k_base"}
_LOCAL = {"supports_json_schema": True, "encoding": "qwen3", "supports_tools": True}

BUILTIN: dict[str, dict[str, Any]] = {
    "openai:gpt-4o": _p(128_000, 16_384, 2.50, 1.25, 10.00, **_OPENAI),
    "openai:gpt-4o-mini": _p(128_000, 16_384, 0.15, 0.075, 0.60, **_OPENAI),
    "openai:gpt-4.1": _p(1_047_576, 32_768, 2.00, 0.50, 8.00, **_OPENAI),
    "openai:gpt-4.1-mini": _p(1_047_576, 32_768, 0.40, 0.10, 1.60, **_OPENAI),
    "openai:gpt-4.1-nano": _p(1_047_576, 32_768, 0.10, 0.025, 0.40, **_OPENAI),
    "openai:o3-mini": _p(200_000, 100_000, 1.10, 0.55, 4.40, **_OPENAI),
    "openai:o4-mini": _p(200_000, 100_000, 1.10, 0.275, 4.40, **_OPENAI),
    "openai:gpt-5": _p(400_000, 128_000, 1.25, 0.125, 10.00, **_OPENAI),
    "openai:gpt-5-mini": _p(400_000, 128_000, 0.25, 0.025, 2.00, **_OPENAI),
    "openai:gpt-5-nano": _p(400_000, 128_000, 0.05, 0.005, 0.40, **_OPENAI),
    "openai:gpt-3.5-turbo": _p(16_385, 4_096, 0.50, 0.50, 1.50, encoding="cl100k_base"),
    "anthropic:claude-opus-4": _p(200_000, 32_000, 15.00, 1.50, 75.00, **_ANTHROPIC),
    "anthropic:claude-sonnet-4": _p(200_000, 64_000, 3.00, 0.30, 15.00, **_ANTHROPIC),
    "anthropic:claude-3-7-sonnet": _p(200_000, 64_000, 3.00, 0.30, 15.00, **_ANTHROPIC),
    "anthropic:claude-3-5-sonnet": _p(200_000, 8_192, 3.00, 0.30, 15.00, **_ANTHROPIC),
    "anthropic:claude-3-5-haiku": _p(200_000, 8_192, 0.80, 0.08, 4.00, **_ANTHROPIC),
    "anthropic:claude-haiku-4-5": _p(200_000, 64_000, 1.00, 0.10, 5.00, **_ANTHROPIC_NATIVE),
    "anthropic:claude-sonnet-4-5": _p(200_000, 64_000, 3.00, 0.30, 15.00, **_ANTHROPIC_NATIVE),
    "anthropic:claude-opus-4-1": _p(200_000, 32_000, 15.00, 1.50, 75.00, **_ANTHROPIC_NATIVE),
    "anthropic:claude-opus-4-5": _p(200_000, 64_000, 5.00, 0.50, 25.00, **_ANTHROPIC_NATIVE),
    "local:qwen2.5-coder-0.5b": _p(4_096, 2_048, 0, 0, 0, **_LOCAL),
    "local:qwen2.5-coder-1.5b": _p(4_096, 2_048, 0, 0, 0, **_LOCAL),
}


class ProfileTable:
    """`provider:model` → `ModelProfile`, longest-prefix matched; thread-safe to update."""

    def __init__(self, entries: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._profiles: dict[str, ModelProfile] = {}
        self._lock = threading.Lock()
        self.default = ModelProfile()
        if entries:
            self.update(entries)

    def update(self, entries: Mapping[str, Mapping[str, Any] | ModelProfile]) -> None:
        """Add or change profiles. A mapping is merged into the existing profile of the
        same key (change one price); a `ModelProfile` replaces it. All or nothing."""
        parsed = {key: self._parse(key, value) for key, value in entries.items()}
        with self._lock:
            self._profiles.update(parsed)

    def _parse(self, key: str, value: Mapping[str, Any] | ModelProfile) -> ModelProfile:
        provider, sep, model = key.partition(":")
        if not sep or not provider or not model:
            raise ConfigurationError(f"profile key {key!r} must look like 'provider:model'")
        if isinstance(value, ModelProfile):
            return value
        base = self._profiles.get(key)
        merged = {**(base.model_dump() if base else {}), **value}
        try:
            return ModelProfile.model_validate(merged)
        except ValidationError as exc:
            raise ConfigurationError(_describe(key, exc)) from None

    def get(self, provider: str, model: str) -> ModelProfile:
        """The profile of `provider:model`, else of its longest known prefix, else default."""
        key = f"{provider}:{model}"
        found = self._profiles.get(key)
        if found is not None:
            return found
        best = max((k for k in self._profiles if key.startswith(k)), key=len, default=None)
        return self._profiles[best] if best is not None else self.default

    def __contains__(self, key: object) -> bool:
        return key in self._profiles

    def keys(self) -> list[str]:
        return sorted(self._profiles)


def _describe(key: str, error: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
    )
    return f"bad model profile {key!r}: {problems}"


PROFILES = ProfileTable(BUILTIN)
"""The process-wide table every provider and the gateway read; update it to override."""


def profile_for(provider: str, model: str) -> ModelProfile:
    return PROFILES.get(provider, model)
