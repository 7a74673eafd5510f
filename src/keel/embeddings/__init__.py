"""Embeddings: text to unit vectors, for user memory and the knowledge base.

`Embedder` is the protocol every backend implements; `LocalEmbedder` is the offline
default (all-MiniLM-L6-v2 as int8 ONNX, extra `embeddings`); `default_embedder()` returns
one per process, so the model is loaded once. `int8_embedder()` multiplies in int8
(its own vector space, ~2x faster for one short text): the semantic router's default.
`static_embedder()` averages token vectors distilled from MiniLM and fitted to its sentence
vectors (`keel.embeddings.static`): no model at run time, ~100x faster ingest, somewhat
lower retrieval quality. `embedder_named`
finds each by the short name `keel kb --embedder` takes or by its full `name`.
"""

from keel.embeddings.base import Embedder, HashEmbedder, cosine
from keel.embeddings.local import LocalEmbedder, default_embedder, int8_embedder
from keel.embeddings.named import embedder_named
from keel.embeddings.static import StaticEmbedder, static_embedder

__all__ = [
    "Embedder",
    "HashEmbedder",
    "LocalEmbedder",
    "StaticEmbedder",
    "cosine",
    "default_embedder",
    "embedder_named",
    "int8_embedder",
    "static_embedder",
]
