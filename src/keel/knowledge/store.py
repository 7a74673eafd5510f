"""What a knowledge store keeps and answers, whatever the backend (SQLite, PostgreSQL).

Every method is scoped by tenant: a tenant never sees another's documents. Stores are
synchronous — ingestion and retrieval are short, CPU- or disk-bound calls; the knowledge
base runs them off the event loop where it matters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from keel.embeddings.base import Embedder, Vectors
from keel.exceptions import ConfigurationError, KeelError
from keel.knowledge.chunking import TextChunk

__all__ = [
    "MAX_QUERY_TERMS",
    "REEMBED_HINT",
    "ChunkRow",
    "EmbedderMismatchError",
    "KnowledgeIndexError",
    "KnowledgeStore",
    "embedding_text",
    "query_terms",
]

MAX_QUERY_TERMS = 64
REEMBED_HINT = "`keel kb reembed --embedder NAME` (add --app and --tenant as for ingest)"


class KnowledgeIndexError(KeelError):
    """The knowledge index is damaged; the message names the command that rebuilds it."""


class EmbedderMismatchError(ConfigurationError):
    """A tenant's chunks hold vectors of one embedder and another was asked to write or
    search them; the message names the command that re-embeds them."""

    def __init__(self, tenant_id: str, recorded: str, wanted: str) -> None:
        super().__init__(
            f"tenant {tenant_id!r}'s knowledge base holds vectors of the embedder "
            f"{recorded!r}, not {wanted!r}, and vectors of two embedders cannot be compared: "
            f"use {recorded!r}, or re-embed the stored chunks with {REEMBED_HINT}"
        )
        self.recorded, self.wanted = recorded, wanted


def embedding_text(heading: str, text: str) -> str:
    """What a chunk's vector is made from: its heading path, then its text."""
    return f"{heading}\n{text}" if heading else text


@dataclass(frozen=True, slots=True)
class ChunkRow:
    id: int
    document: str
    heading: str
    ordinal: int
    text: str


def query_terms(query: object) -> list[str]:
    """The words of a query, lower-cased, at most `MAX_QUERY_TERMS`; a clear error when
    there are none (an empty query, or one of punctuation only)."""
    if not isinstance(query, str):
        raise ConfigurationError(f"a query must be a string, got {type(query).__name__}")
    terms = list(dict.fromkeys(re.findall(r"\w+", query.lower())))
    if not terms:
        raise ConfigurationError("the query is empty: give it at least one word")
    return terms[:MAX_QUERY_TERMS]


@runtime_checkable
class KnowledgeStore(Protocol):
    def document_hash(self, tenant_id: str, document: str) -> str | None: ...

    def document_with_hash(self, tenant_id: str, content_hash: str) -> str | None:
        """The name of a stored document with this content, if any."""
        ...

    def replace_document(
        self,
        tenant_id: str,
        document: str,
        content_hash: str,
        chunks: Sequence[TextChunk],
        vectors: Vectors,
        *,
        embedder: str,
    ) -> None:
        """Store a document's chunks, replacing any it had, in one transaction. `embedder`
        is the `name` of the embedder that made `vectors`: recorded for the tenant, and
        refused (`EmbedderMismatchError`) while the tenant holds another's vectors."""
        ...

    def embedder(self, tenant_id: str) -> str | None:
        """The name of the embedder the tenant's vectors come from; None while it holds
        no documents (a tenant emptied may start again with another)."""
        ...

    def reembed(self, tenant_id: str, embedder: Embedder) -> int:
        """Embed every chunk of the tenant again with `embedder` and record it, in one
        transaction; returns the chunks re-embedded."""
        ...

    def delete_document(self, tenant_id: str, document: str) -> bool: ...

    def text_search(self, tenant_id: str, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Chunk ids by full-text rank (best first) with the backend's score."""
        ...

    def vector_search(self, tenant_id: str, vector: Vectors, k: int) -> list[tuple[int, float]]:
        """Chunk ids by cosine similarity to `vector` (best first)."""
        ...

    def similarities(
        self, tenant_id: str, ids: Sequence[int], vector: Vectors
    ) -> dict[int, float]: ...

    def chunks(self, tenant_id: str, ids: Sequence[int]) -> dict[int, ChunkRow]: ...

    def counts(self, tenant_id: str) -> tuple[int, int]:
        """(documents, chunks) of the tenant."""
        ...

    def documents(self, tenant_id: str) -> list[tuple[str, int]]:
        """(document, chunks) of the tenant, by name."""
        ...

    def rebuild(self, tenant_id: str | None = None) -> int:
        """Rebuild the search indexes from the stored chunks; returns the chunks indexed."""
        ...
