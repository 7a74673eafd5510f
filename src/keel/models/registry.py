"""Model strings (`provider:model`) to `Model` objects.

Built-in providers register through `register_provider`, the same call a third party
uses (or the `keel.providers` entry-point group, read only when a name is unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from keel.exceptions import UnknownModelError
from keel.models.base import Model

__all__ = ["ProviderFactory", "infer_model", "known_providers", "register_provider"]

ProviderFactory = Callable[[str], Model]
"""Builds a model from the part of the model string after `provider:`."""

_providers: dict[str, ProviderFactory] = {}


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make `name:…` model strings resolve through `factory`."""
    _providers[name] = factory


def known_providers() -> list[str]:
    _load_entry_points()
    return sorted(_providers)


def infer_model(model: str | Model) -> Model:
    """Resolve a model string such as `local:qwen2.5-0.5b`; Model objects pass through."""
    if not isinstance(model, str):
        return model
    provider, sep, name = model.partition(":")
    if not sep or not name:
        raise UnknownModelError(
            f"model string {model!r} must look like 'provider:model', "
            f"e.g. 'local:qwen2.5-0.5b'; known providers: {', '.join(known_providers())}"
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


def _test_factory(name: str) -> Model:
    from keel.testing import EchoModel

    return EchoModel(model_name=name)


register_provider("local", _local_factory)
register_provider("test", _test_factory)
