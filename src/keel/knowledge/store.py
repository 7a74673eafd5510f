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

from keel.embeddings.base import Vectors
from keel.exceptions import ConfigurationError, KeelError
from keel.knowledge.chunking import TextChunk

__all__ = [
    "MAX_QUERY_TERMS",
    "ChunkRow",
    "KnowledgeIndexError",
    "KnowledgeStore",
    "query_terms",
]

MAX_QUERY_TERMS = 64


class KnowledgeIndexError(KeelError):
    """The knowledge index is damaged; the message names the command that rebuilds it."""


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
    ) -> None:
        """Store a document's chunks, replacing any it had, in one transaction."""
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
