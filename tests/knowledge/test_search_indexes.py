"""The embedded store's in-memory search against the references it replaced or shortcuts:
BM25 scores equal SQLite FTS5's `bm25()` on the test corpus, and the sign-bit vector scan
re-scored in float32 returns what exact float32 search returns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from keel.embeddings.base import HashEmbedder, normalize
from keel.knowledge import SQLiteKnowledgeStore, sqlite_store
from keel.knowledge.bm25 import TermIndex, words
from keel.knowledge.chunking import TextChunk, chunk_text
from keel.storage import SQLiteDatabase

CORPUS = Path(__file__).parent / "corpus"
QUERIES = ["refund card payment", "E-5120", "halo mini strap 20 mm", "warehouse stock", "zzz"]


def corpus_chunks() -> list[TextChunk]:
    return [c for p in sorted(CORPUS.glob("*.md")) for c in chunk_text(p.read_text("utf-8"))]


@pytest.mark.parametrize("query", QUERIES)
def test_bm25_scores_equal_fts5_bm25(query: str) -> None:
    chunks = corpus_chunks()
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(heading, text, tokenize = 'unicode61')")
    conn.executemany("INSERT INTO f (rowid, heading, text) VALUES (?, ?, ?)",
                     [(i, c.heading, c.text) for i, c in enumerate(chunks)])  # fmt: skip
    terms = words(query)
    match = " OR ".join(f'"{t}"' for t in terms)
    expected = conn.execute(
        "SELECT rowid, -bm25(f, 2.0, 1.0) FROM f WHERE f MATCH ? ORDER BY 2 DESC, 1 LIMIT 10",
        (match,),
    ).fetchall()
    found = TermIndex.build((c.heading, c.text) for c in chunks).search(terms, 10)
    assert [p for p, _ in found] == [p for p, _ in expected]
    assert [s for _, s in found] == pytest.approx([s for _, s in expected], rel=1e-5)


def test_words_fold_case_and_accents_like_the_query_side() -> None:
    assert words("Crème BRÛLÉE, E-5120_x") == ["creme", "brulee", "e", "5120", "x"]
    index = TermIndex.build([("", "Crème brûlée"), ("Desserts", "nothing else")])
    assert [p for p, _ in index.search(["CREME"], 5)] == [0]
    assert index.search(["absent"], 5) == [] and index.search(["creme"], 0) == []


def test_vector_search_returns_what_exact_float32_search_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "COARSE_POOL", 200)  # a tenth of the rows re-scored
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(20, 384)).astype(np.float32)
    vectors = normalize(centres[rng.integers(0, 20, 2_000)] + rng.normal(0, 0.05, (2_000, 384)))
    store = SQLiteKnowledgeStore(SQLiteDatabase(tmp_path / "kb.db"))
    for d in range(0, 2_000, 100):
        chunks = [TextChunk("", f"chunk {i}") for i in range(d, d + 100)]
        store.replace_document(
            "t", f"doc{d}.md", f"h{d}", chunks, vectors[d : d + 100], embedder="x"
        )
    ids = np.array(sorted(i for i, _ in store.vector_search("t", vectors[0], 2_000)))
    for query in normalize(vectors[:25] + rng.normal(0, 0.02, (25, 384))):
        exact = np.argsort(-(vectors @ query), kind="stable")[:10]
        found = store.vector_search("t", query, 10)
        assert [i for i, _ in found] == ids[exact].tolist()
        assert [s for _, s in found] == pytest.approx((vectors @ query)[exact].tolist(), abs=1e-5)


def test_sign_bits_pack_any_width() -> None:
    rows = np.array([[1.0] * 70, [-1.0] * 69 + [1.0]], dtype=np.float32)
    bits = sqlite_store._sign_bits(rows)  # pyright: ignore[reportPrivateUsage]
    assert bits.shape == (2, 2)  # 70 bits in two 64-bit words
    assert np.bitwise_count(bits).sum(axis=1).tolist() == [70, 1]


def test_a_write_from_another_store_is_seen_by_the_next_search(tmp_path: Path) -> None:
    embedder = HashEmbedder(dimensions=32)
    first = SQLiteKnowledgeStore(SQLiteDatabase(tmp_path / "kb.db"))
    second = SQLiteKnowledgeStore(SQLiteDatabase(tmp_path / "kb.db"))  # another process
    chunk = [TextChunk("Refunds", "cards are refunded in five days")]
    first.replace_document("t", "a.md", "h1", chunk, embedder.embed([chunk[0].text]), embedder="x")
    assert second.text_search("t", ["refunded"], 5) != []
    later = [TextChunk("Parts", "the strap is silicone")]
    first.replace_document("t", "b.md", "h2", later, embedder.embed([later[0].text]), embedder="x")
    assert len(second.text_search("t", ["silicone"], 5)) == 1
    assert first.delete_document("t", "b.md") and second.text_search("t", ["silicone"], 5) == []


def test_indexes_updated_after_writes_equal_indexes_built_afresh(tmp_path: Path) -> None:
    """After a write the store reads and tokenizes only the new chunks; what it then
    answers must be what a store loading everything answers."""
    embedder = HashEmbedder(dimensions=32)
    chunks = corpus_chunks()
    store = SQLiteKnowledgeStore(SQLiteDatabase(tmp_path / "kb.db"))

    def put(name: str, part: list[TextChunk]) -> None:
        vectors = embedder.embed([c.text for c in part])
        store.replace_document("t", name, name + str(len(part)), part, vectors, embedder="x")

    for n in range(4):
        put(f"doc{n}.md", chunks[n * 10 : n * 10 + 10])
    queries = [words(q) for q in QUERIES]
    store.text_search("t", queries[0], 5)  # cached now
    assert store.delete_document("t", "doc1.md")
    put("doc2.md", chunks[40:45])  # replaced: old chunks deleted, new ones added
    put("doc9.md", chunks[45:60])
    fresh = SQLiteKnowledgeStore(SQLiteDatabase(tmp_path / "kb.db"))
    for terms, vector in zip(queries, embedder.embed(QUERIES), strict=True):
        updated, built = store.text_search("t", terms, 8), fresh.text_search("t", terms, 8)
        assert [i for i, _ in updated] == [i for i, _ in built]
        assert [s for _, s in updated] == pytest.approx([s for _, s in built], rel=1e-6)
        assert store.vector_search("t", vector, 8) == fresh.vector_search("t", vector, 8)


@pytest.mark.parametrize("damaged", [False, True])
def test_the_old_full_text_table_is_removed_even_when_damaged(
    tmp_path: Path, damaged: bool
) -> None:
    """Migration 0080 drops `kb_fts`, which an older Keel wrote; a damaged one (what the
    old `keel kb rebuild` repaired) must not make the database fail to open."""
    SQLiteDatabase(tmp_path / "kb.db").close()
    with sqlite3.connect(tmp_path / "kb.db") as conn:  # as an older Keel left it
        conn.execute("DELETE FROM keel_schema WHERE version = 80")
        conn.execute("CREATE VIRTUAL TABLE kb_fts USING fts5(heading, text, tenant_id UNINDEXED)")
        conn.executemany(
            "INSERT INTO kb_fts VALUES (?, ?, 't')", [("H", f"text {i}") for i in range(9)]
        )
    if damaged:
        with sqlite3.connect(tmp_path / "kb.db") as conn:
            conn.execute("UPDATE kb_fts_data SET block = x'ffffffffffff00' WHERE id = 10")
    store = SQLiteKnowledgeStore(SQLiteDatabase(tmp_path / "kb.db"))
    store.replace_document(
        "t", "a.md", "h", [TextChunk("H", "refunds")], normalize(np.ones((1, 8))), embedder="x"
    )
    assert [i for i, _ in store.text_search("t", ["refunds"], 5)] != []
    with sqlite3.connect(tmp_path / "kb.db") as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert not {n for n in names if n.startswith("kb_fts")}
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
