"""A knowledge base holds vectors of one embedder: a second is refused with the command
that re-embeds, the recorded one is used at query time, and the static embedder passes
the same labelled-set bar as the default; chunks are cut to the embedder's window."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from keel.embeddings import HashEmbedder, default_embedder
from keel.embeddings.base import Vectors, WindowedEmbedder
from keel.embeddings.local import text_tokens
from keel.embeddings.static import static_embedder
from keel.knowledge import KnowledgeBase, KnowledgeStore, SQLiteKnowledgeStore
from keel.knowledge.chunking import chunk_text, fit_window
from keel.knowledge.reading import Loaded, read_file
from keel.knowledge.store import EmbedderMismatchError, embedding_text
from keel.storage import SQLiteDatabase
from tests.knowledge.test_knowledge import CORPUS, evaluate


class OtherHash(HashEmbedder):
    """Another vector space of the same size (the hashed words' rows reversed)."""

    @property
    def name(self) -> str:
        return "other-hash-384"

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.ascontiguousarray(super().embed(texts)[:, ::-1])


def test_a_store_refuses_vectors_of_a_second_embedder(store: KnowledgeStore) -> None:
    KnowledgeBase(store, HashEmbedder(384)).ingest(CORPUS / "refunds.md")
    other = KnowledgeBase(store, OtherHash(384))
    with pytest.raises(EmbedderMismatchError, match=r"keel kb reembed --embedder") as caught:
        other.ingest(CORPUS / "errors.md")
    assert (caught.value.recorded, caught.value.wanted) == ("hash-384", "other-hash-384")
    assert store.documents("default") == [("refunds.md", store.counts("default")[1])]
    with pytest.raises(EmbedderMismatchError):  # a query embedded by another is refused too
        other.search("refund")
    with pytest.raises(EmbedderMismatchError):  # write-level guard, whatever the caller
        store.replace_document("default", "x.md", "h", [], OtherHash(384).embed([]), embedder="x")
    assert other.search("refund", tenant_id="acme").found_nothing  # another tenant is free


def test_reembed_moves_the_store_to_another_embedder(store: KnowledgeStore) -> None:
    KnowledgeBase(store, HashEmbedder(384)).ingest(CORPUS)
    before = store.counts("default")
    other = KnowledgeBase(store, OtherHash(384))
    assert other.reembed() == before[1]
    assert store.embedder("default") == "other-hash-384" and store.counts("default") == before
    (hit,) = other.search("E-4017", k=1, mode="vector").hits
    assert hit.citation.heading == "Error codes > E-4017"
    made = OtherHash(384).embed(["E-4017", embedding_text(hit.citation.heading, hit.text)])
    assert hit.similarity == pytest.approx(float(made[0] @ made[1]), abs=1e-6)  # new vectors
    with pytest.raises(EmbedderMismatchError):
        KnowledgeBase(store, HashEmbedder(384)).search("refund")


def test_an_emptied_store_takes_a_new_embedder(store: KnowledgeStore) -> None:
    KnowledgeBase(store, HashEmbedder(384)).ingest(CORPUS / "refunds.md")
    assert store.delete_document("default", "refunds.md")
    KnowledgeBase(store, OtherHash(384)).ingest(CORPUS / "errors.md")
    assert store.embedder("default") == "other-hash-384"


def test_without_an_embedder_the_recorded_one_embeds_queries(store: KnowledgeStore) -> None:
    KnowledgeBase(store, "static").ingest(CORPUS / "errors.md")
    plain = KnowledgeBase(store)
    assert plain.embedder_for("default") is static_embedder()
    assert plain.embedder_for("new-tenant") is default_embedder()
    assert plain.search("E-4017", k=1).hits[0].citation.heading == "Error codes > E-4017"


def test_a_store_embedded_with_the_unfitted_static_table_stays_searchable(
    store: KnowledgeStore,
) -> None:
    KnowledgeBase(store, "static-v1").ingest(CORPUS / "errors.md")
    assert store.embedder("default") == "all-MiniLM-L6-v2-static-v1"
    hit = KnowledgeBase(store).search("E-4017", k=1).hits[0]
    assert hit.citation.heading == "Error codes > E-4017"
    with pytest.raises(EmbedderMismatchError, match="keel kb reembed"):
        KnowledgeBase(store, "static").search("E-4017")  # v2: another vector space


def test_hybrid_on_the_static_embedder_beats_each_retriever_alone(
    store: KnowledgeStore,
) -> None:
    # The bar test_knowledge sets for the default embedder, on the same questions.
    kb = KnowledgeBase(store, "static")
    kb.ingest(CORPUS)
    text, vector, hybrid = (evaluate(kb, m) for m in ("text", "vector", "hybrid"))
    assert hybrid[0] > text[0] and hybrid[0] > vector[0]  # hit@3
    assert hybrid[1] > text[1] and hybrid[1] > vector[1]  # MRR


def long_document(tmp_path: Path) -> Loaded:
    sentences = [
        f"Order {n} of the Lyon warehouse ships with tracking code TRK-{n:05d}-XZ and "
        f"arrives within {n % 9 + 2} business days, barring strikes."
        for n in range(200)
    ]
    paragraphs = [" ".join(sentences[i : i + 8]) for i in range(0, 200, 8)]
    body = "# Shipping\n\n## Timetable\n\n" + "\n\n".join(paragraphs)
    body += "\n\n## Serials\n\n" + "7" * 3_000  # one unbroken run, no spaces
    (tmp_path / "long.md").write_text(body)
    loaded = read_file(tmp_path / "long.md")
    assert isinstance(loaded, Loaded)
    return loaded


def test_default_chunks_fit_the_embedders_window_and_keep_every_sentence(
    tmp_path: Path,
) -> None:
    embedder = default_embedder()
    assert isinstance(embedder, WindowedEmbedder)
    loaded = long_document(tmp_path)
    plain = chunk_text(loaded.text)
    count = embedder.text_tokens
    assert max(count([f"{c.heading}\n{c.text}" for c in plain])) > embedder.window  # else moot
    chunks = KnowledgeBase(store=None, embedder=embedder).chunk(loaded)  # type: ignore[arg-type]
    assert max(count([f"{c.heading}\n{c.text}" for c in chunks])) <= embedder.window
    text = " ".join(c.text for c in chunks)
    for sentence in re.findall(r"Order \d+ [^.]+\.", loaded.text):
        assert sentence in text
    assert "".join(c.text for c in chunks if c.heading.endswith("Serials")) == "7" * 3_000


def test_chunks_within_the_window_are_left_as_they_are() -> None:
    chunks = chunk_text("# A\n\nshort text. another one.\n\n## B\n\nmore")
    assert fit_window(chunks, 254, text_tokens) == chunks


def test_stores_written_before_embedders_were_recorded_are_taken_as_minilm(
    tmp_path: Path,
) -> None:
    """Migration 0085: chunks of 384 floats came from the only local embedder there was."""
    SQLiteDatabase(tmp_path / "kb.db").close()
    with sqlite3.connect(tmp_path / "kb.db") as conn:  # as an older Keel left it
        conn.execute("DELETE FROM keel_schema WHERE version = 85")
        conn.execute("DROP TABLE kb_embedders")
        for tenant, floats in (("old", 384), ("odd", 8)):
            conn.execute("INSERT INTO kb_documents VALUES (?, 'a.md', 'h', 1, 0)", (tenant,))
            conn.execute(
                "INSERT INTO kb_chunks (tenant_id, path, ordinal, heading, text, embedding) "
                "VALUES (?, 'a.md', 0, '', 'refunds', ?)",
                (tenant, bytes(4 * floats)),
            )
    store = SQLiteKnowledgeStore(SQLiteDatabase(tmp_path / "kb.db"))
    assert store.embedder("old") == default_embedder().name
    assert store.embedder("odd") == "unknown" and store.embedder("new") is None
    with pytest.raises(EmbedderMismatchError, match="'unknown'"):
        KnowledgeBase(store).search("refunds", tenant_id="odd")
