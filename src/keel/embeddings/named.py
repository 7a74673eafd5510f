"""Local embedders by name: what `keel kb ingest --embedder` and `App.knowledge_embedder`
accept, and how a store's recorded embedder is found again at query time."""

from __future__ import annotations

from collections.abc import Callable

from keel.embeddings.base import Embedder
from keel.exceptions import ConfigurationError

__all__ = ["EMBEDDERS", "embedder_named", "local_embedder_names"]


def _minilm() -> Embedder:
    from keel.embeddings.local import default_embedder

    return default_embedder()


def _minilm_int8() -> Embedder:
    from keel.embeddings.local import int8_embedder

    return int8_embedder()


def _static() -> Embedder:
    from keel.embeddings.static import static_embedder

    return static_embedder()


def _static_v1() -> Embedder:
    from keel.embeddings.static import static_v1_embedder

    return static_v1_embedder()


EMBEDDERS: dict[str, tuple[str, Callable[[], Embedder]]] = {
    "minilm": ("all-MiniLM-L6-v2-int8", _minilm),
    "minilm-int8": ("all-MiniLM-L6-v2-int8-matmul", _minilm_int8),
    "static": ("all-MiniLM-L6-v2-static-v2", _static),
    "static-v1": ("all-MiniLM-L6-v2-static-v1", _static_v1),
}
"""Short name -> (the embedder's `name`, what makes it). The default is "minilm"."""


def local_embedder_names() -> list[str]:
    return list(EMBEDDERS)


def embedder_named(name: str) -> Embedder:
    """A local embedder by short name ("static") or by its full `name`, as a store
    records it; a clear error naming the choices otherwise."""
    for short, (full, make) in EMBEDDERS.items():
        if name in (short, full):
            return make()
    raise ConfigurationError(
        f"no local embedder named {name!r}; choose one of {', '.join(EMBEDDERS)}"
    )
