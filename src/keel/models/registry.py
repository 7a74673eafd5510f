"""Model strings (`provider:model`) to `Model` objects.

Built-in providers register through `register_provider`, the same call a third party
uses, or through the `keel.providers` entry-point group (read only when a name is
unknown), as Keel's own `test:` provider does.

A model string is resolved once per process: every agent naming `local:…` shares one
model object, so a model's one-time setup (a loaded llama.cpp server, a client and its
connection pool) is done once. A factory whose models keep per-conversation state should
not be a provider; pass such model objects to the agent instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache

from keel.exceptions import UnknownModelError
from keel.models.base import Model

__all__ = ["ProviderFactory", "infer_model", "known_providers", "register_provider"]

ProviderFactory = Callable[[str], Model]
"""Builds a model from the part of the model string after `provider:`."""

_EXAMPLE = "local:qwen2.5-coder-0.5b"

_providers: dict[str, ProviderFactory] = {}
_models: dict[str, Model] = {}
# Reentrant: a factory may itself resolve model strings (a fallback over two models).
_models_lock = threading.RLock()


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make `name:…` model strings resolve through `factory`."""
    with _models_lock:
        _providers[name] = factory
        for stale in [key for key in _models if key.partition(":")[0] == name]:
            del _models[stale]  # built by the factory this one replaces


def known_providers() -> list[str]:
    _load_entry_points()
    return sorted(_providers)


def infer_model(model: str | Model) -> Model:
    """The model for a string such as `local:qwen2.5-coder-0.5b`, built on first use and
    the same object ever after; Model objects pass through."""
    if not isinstance(model, str):
        return model
    resolved = _models.get(model)
    if resolved is None:
        with _models_lock:  # two threads naming a new string still get one object
            resolved = _models.get(model)
            if resolved is None:
                resolved = _models[model] = _build(model)
    return resolved


def _build(model: str) -> Model:
    provider, sep, name = model.partition(":")
    if not sep or not name:
        raise UnknownModelError(
            f"model string {model!r} must look like 'provider:model', "
            f"e.g. {_EXAMPLE!r}; known providers: {', '.join(known_providers())}"
        )
    factory = _providers.get(provider)
    if factory is None:
        _load_entry_points()
        factory = _providers.get(provider)
    if factory is None:
        raise UnknownModelError(
            f"unknown model provider {provider!r} in {model!r}; "
            f"known providers: {', '.join(known_providers())}"
        )
    return factory(name)


@cache
def _load_entry_points() -> None:
    # Once per process, and only when needed: importlib.metadata and the scan cost ms.
    from importlib.metadata import entry_points

    for ep in entry_points(group="keel.providers"):
        _providers.setdefault(ep.name, ep.load())


def _local_factory(name: str) -> Model:
    # Imported here so `import keel` never loads llama.cpp.
    from keel.models.local import LocalModel

    return LocalModel.from_name(name)


register_provider("local", _local_factory)


def _openai_factory(name: str) -> Model:
    from keel.models.openai import OpenAIModel

    return OpenAIModel(name)


def _azure_factory(name: str) -> Model:
    from keel.models.openai import OpenAIModel

    return OpenAIModel.azure(name)


def _anthropic_factory(name: str) -> Model:
    from keel.models.anthropic import AnthropicModel

    return AnthropicModel(name)


register_provider("openai", _openai_factory)
register_provider("azure", _azure_factory)
register_provider("anthropic", _anthropic_factory)
