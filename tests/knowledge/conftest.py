"""Knowledge stores to run the same suite against: every test taking `store` runs on
each backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from keel.embeddings import default_embedder
from keel.embeddings.base import Vectors
from keel.knowledge import KnowledgeStore, SQLiteKnowledgeStore
from keel.knowledge.postgres_store import PostgresKnowledgeStore
from keel.storage import SQLiteDatabase
from tests.knowledge.rerank_server import rerank_server  # noqa: F401
from tests.pgvector_server import pgvector_dsn, pgvector_server  # noqa: F401

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KnowledgeStore]:
    if request.param == "sqlite":
        db = SQLiteDatabase(tmp_path / "kb.db")
        yield SQLiteKnowledgeStore(db)
        db.close()
        return
    dsn = request.getfixturevalue("pgvector_dsn")
    postgres = PostgresKnowledgeStore(dsn)
    yield postgres
    postgres.close()


class CachedEmbedder:
    """The real local embedder, remembering each text's vector across tests (the suite
    embeds the same corpus many times; the model's output for a text never changes)."""

    def __init__(self) -> None:
        self.inner = default_embedder()
        self.dimensions, self.name = self.inner.dimensions, self.inner.name
        self.seen: dict[str, Vectors] = {}

    def embed(self, texts: Sequence[str]) -> Vectors:
        missing = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if missing:
            self.seen.update(zip(missing, self.inner.embed(missing), strict=True))
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([self.seen[t] for t in texts])


@pytest.fixture(scope="session")
def embedder() -> CachedEmbedder:
    return CachedEmbedder()
