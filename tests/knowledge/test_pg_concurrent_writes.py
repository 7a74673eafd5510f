"""Concurrent writers of one tenant on PostgreSQL: BM25's word counts (`kb_terms`, kept
by triggers) must neither deadlock nor drift when several processes ingest, re-ingest
and delete documents sharing their vocabulary at once."""

from __future__ import annotations

import random
import threading

import numpy as np

from keel.knowledge.chunking import TextChunk
from keel.knowledge.postgres_store import PostgresKnowledgeStore

WRITERS = 4
ROUNDS = 12
VOCABULARY = [f"w{n:03d}" for n in range(120)]
RECOUNT = (
    "SELECT c.tenant_id, u.lexeme, count(*) FROM kb_chunks c, unnest(c.tsv) u "
    "GROUP BY 1, 2 ORDER BY 1, 2"
)
KEPT = "SELECT tenant_id, lexeme, chunks FROM kb_terms ORDER BY 1, 2"


def chunks(rng: random.Random) -> list[TextChunk]:
    """Chunks over the shared vocabulary, so writers touch the same term rows in
    different orders (what deadlocked row-by-row trigger updates)."""
    return [
        TextChunk(rng.choice(VOCABULARY), " ".join(rng.sample(VOCABULARY, 40)))
        for _ in range(rng.randint(2, 6))
    ]


def write(dsn: str, writer: int, failures: list[BaseException]) -> None:
    """Ingest, re-ingest and delete documents, each its own transaction; some documents
    are shared by every writer, so the same document is also replaced concurrently."""
    rng = random.Random(writer)
    try:
        store = PostgresKnowledgeStore(dsn)  # opened at once too: creating the schema races
        for round_ in range(ROUNDS):
            name = f"shared-{round_ % 3}.md" if round_ % 2 else f"own-{writer}-{round_ % 4}.md"
            parts = chunks(rng)
            vectors = np.ones((len(parts), 384), dtype=np.float32)
            store.replace_document(
                "acme", name, f"{writer}-{round_}", parts, vectors, embedder="test"
            )
            if round_ % 5 == 4:
                store.delete_document("acme", f"own-{writer}-{rng.randrange(4)}.md")
        store.close()
    except BaseException as exc:  # reported to the test's thread
        failures.append(exc)


def test_concurrent_writers_of_a_tenant_keep_exact_word_counts(pgvector_dsn: str) -> None:
    store = PostgresKnowledgeStore(pgvector_dsn)  # creates the tables before the race
    failures: list[BaseException] = []
    threads = [
        threading.Thread(target=write, args=(pgvector_dsn, n, failures)) for n in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [repr(f) for f in failures] == []
    counted = store._all(RECOUNT)  # pyright: ignore[reportPrivateUsage]
    assert store._all(KEPT) == counted  # pyright: ignore[reportPrivateUsage]
    documents = store.documents("acme")
    stored = store._all(  # pyright: ignore[reportPrivateUsage]
        "SELECT path, count(*) FROM kb_chunks WHERE tenant_id = 'acme' GROUP BY 1 ORDER BY 1"
    )
    assert documents == [(str(p), int(n)) for p, n in stored]  # no document stored twice
    store.close()
