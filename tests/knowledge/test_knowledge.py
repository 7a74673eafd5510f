"""The knowledge base on every backend: messy ingest, incremental re-ingest, cited hybrid
retrieval that beats each retriever alone, a similarity floor, tenants kept apart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from keel.exceptions import ConfigurationError
from keel.knowledge import KnowledgeBase, KnowledgeStore, SearchMode
from keel.knowledge.postgres_store import PostgresKnowledgeStore
from keel.knowledge.tool import NOTHING_FOUND, format_results
from tests.knowledge.conftest import CachedEmbedder

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
QUESTIONS = json.loads((HERE / "questions.json").read_text("utf-8"))


@pytest.fixture
def kb(store: KnowledgeStore, embedder: CachedEmbedder) -> KnowledgeBase:
    return KnowledgeBase(store, embedder)


def messy_folder(root: Path) -> Path:
    folder = root / "messy"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(CORPUS / "refunds.md", folder / "refunds.md")
    shutil.copy(CORPUS / "refunds.md", folder / "nested" / "refunds-copy.md")
    (folder / "empty.md").write_text("")
    (folder / "blank.txt").write_text("  \n\n \t\n")
    (folder / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)
    (folder / "huge.txt").write_text("word " * 300_000)
    (folder / "latin1.txt").write_bytes(
        "Caf\xe9 cr\xe8me: the Montr\xe9al shop opens at 8.".encode("latin-1")
    )
    (folder / "page.html").write_text(
        "<html><head><style>p{}</style><script>var x=1;</script></head><body>"
        "<h1>Loyalty</h1><p>Members earn 5 points per euro.</p>"
        "<h2>Redeeming</h2><p>100 points give a 1 euro discount.</p></body></html>"
    )
    (folder / "data.bin").write_bytes(b"\x00\x01")
    return folder


def test_messy_folder_is_ingested_with_a_reason_for_every_skip(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    kb.max_bytes = 1_000_000
    report = kb.ingest(messy_folder(tmp_path))
    assert report.files == 9
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons == {
        "blank.txt": "empty",
        "data.bin": "unsupported file type '.bin'",
        "empty.md": "empty",
        "huge.txt": "too large: 1,500,000 bytes (limit 1,000,000)",
        "image.md": "binary content (not text)",
        "refunds.md": "duplicate of nested/refunds-copy.md",
    }
    assert {name for name, _ in report.ingested} == {
        "latin1.txt",
        "nested/refunds-copy.md",
        "page.html",
    }
    assert report.converted == [("latin1.txt", "not UTF-8: decoded as Windows-1252")]
    hit = kb.search("Montréal café", k=1).hits[0]
    assert hit.citation.document == "latin1.txt" and "Café crème" in hit.text
    loyalty = kb.search("points per euro", k=1).hits[0]
    assert loyalty.citation.heading == "Loyalty" and "var x" not in loyalty.text


def test_reingest_skips_unchanged_files_and_replaces_changed_ones(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    shutil.copytree(CORPUS, folder)
    first = kb.ingest(folder)
    assert len(first.ingested) == 10 and not first.unchanged
    again = kb.ingest(folder)
    assert again.ingested == [] and len(again.unchanged) == 10
    (folder / "stores.md").write_text("# Stores\n\n## Opening hours\n\nOpen 24 hours a day.\n")
    third = kb.ingest(folder)
    assert third.ingested == [("stores.md", 1)] and len(third.unchanged) == 9
    hours = kb.search("when are the shops open", k=3).hits
    texts = [h.text for h in hours if h.citation.document == "stores.md"]
    assert texts == ["Open 24 hours a day."]  # the old chunks are gone
    assert kb.store.counts("default") == (10, first.chunks - 3 + 1)


def evaluate(kb: KnowledgeBase, mode: SearchMode) -> tuple[float, float]:
    hits = reciprocal = 0.0
    for q in QUESTIONS:
        found = kb.search(q["q"], k=10, mode=mode).hits
        ranks = [
            n
            for n, h in enumerate(found, 1)
            if (h.citation.document, h.citation.heading) == (q["doc"], q["heading"])
        ]
        hits += bool(ranks) and ranks[0] <= 3
        reciprocal += 1 / ranks[0] if ranks else 0
    return hits / len(QUESTIONS), reciprocal / len(QUESTIONS)


def test_hybrid_beats_full_text_alone_and_vectors_alone(kb: KnowledgeBase) -> None:
    kb.ingest(CORPUS)
    text, vector, hybrid = (evaluate(kb, m) for m in ("text", "vector", "hybrid"))
    assert hybrid[0] > text[0] and hybrid[0] > vector[0]  # hit@3
    assert hybrid[1] > text[1] and hybrid[1] > vector[1]  # MRR


def test_every_hit_carries_a_citation(kb: KnowledgeBase) -> None:
    kb.ingest(CORPUS)
    (hit,) = kb.search("E-4017", k=1).hits
    citation = hit.citation
    assert (citation.document, citation.heading, citation.chunk) == (
        "errors.md",
        "Error codes > E-4017",
        0,
    )
    assert citation.score > 0 and 0 < hit.similarity <= 1
    assert str(citation).startswith("errors.md > Error codes > E-4017 (chunk 0, score ")
    assert "3-D Secure" in format_results(kb.search("E-4017", k=1))


def test_below_the_similarity_floor_the_agent_is_told_nothing_was_found(
    kb: KnowledgeBase,
) -> None:
    kb.ingest(CORPUS)
    result = kb.search("recipe for a chocolate soufflé", min_similarity=0.35)
    assert result.found_nothing
    assert format_results(result).startswith(NOTHING_FOUND)
    assert not kb.search("how long do card refunds take", min_similarity=0.35).found_nothing


def test_tenants_never_see_each_others_documents(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest(CORPUS / "refunds.md", tenant_id="acme")
    secret = tmp_path / "secret.md"
    secret.write_text("# Globex\n\nThe globex launch code is PURPLE-HIPPO-42.\n")
    kb.ingest(secret, tenant_id="globex")
    for mode in ("text", "vector", "hybrid"):
        found = kb.search("globex launch code PURPLE-HIPPO-42", tenant_id="acme", mode=mode)
        assert all(h.citation.document == "refunds.md" for h in found.hits)
    assert kb.store.counts("acme") == (1, 3)
    assert kb.store.documents("globex") == [("secret.md", 1)]
    # the same content in another tenant is not a duplicate there
    assert kb.ingest(CORPUS / "refunds.md", tenant_id="globex").ingested == [("refunds.md", 3)]


@pytest.mark.parametrize(
    "query",
    [
        "x" * 100_000,
        "日本語の質問はありますか",
        "refund 🙂 " * 50,
        'a "quoted" AND OR NOT * ( ) : ^ query',
        "NEAR(refund card)",
    ],
)
def test_queries_of_any_size_or_script_give_results_not_a_crash(
    kb: KnowledgeBase, query: str
) -> None:
    kb.ingest(CORPUS)
    assert isinstance(kb.search(query).hits, list)


@pytest.mark.parametrize("query", ["", "   ", "?!.,;", 42])
def test_empty_queries_are_a_clear_error(kb: KnowledgeBase, query: object) -> None:
    with pytest.raises(ConfigurationError, match="query"):
        kb.search(query)  # type: ignore[arg-type]


def test_bad_search_settings_name_the_field(kb: KnowledgeBase) -> None:
    with pytest.raises(ConfigurationError, match="k must"):
        kb.search("refund", k=0)
    with pytest.raises(ConfigurationError, match="mode must"):
        kb.search("refund", mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="no such file"):
        kb.ingest("/nonexistent/folder")


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with `text` in Helvetica (hand-written: no PDF writer is needed)."""
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )


def test_pdf_pages_are_ingested_and_a_damaged_pdf_is_skipped(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "claims.pdf").write_bytes(minimal_pdf("Warranty claims need the serial number."))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf")
    report = kb.ingest(folder)
    assert report.ingested == [("claims.pdf", 1)]
    assert [s.path for s in report.skipped] == ["broken.pdf"]
    assert report.skipped[0].reason.startswith(("unreadable PDF", "empty"))
    (hit,) = kb.search("serial number for a warranty claim", k=1).hits
    assert (hit.citation.document, hit.citation.heading) == ("claims.pdf", "Page 1")


def test_postgres_bulk_load_builds_the_vector_index_after(
    pgvector_dsn: str, embedder: CachedEmbedder
) -> None:
    store = PostgresKnowledgeStore(pgvector_dsn)
    kb = KnowledgeBase(store, embedder)
    with store.bulk_load():
        kb.ingest(CORPUS / "errors.md")
    (index,) = store._all(  # pyright: ignore[reportPrivateUsage]
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'kb_chunks_hnsw'"
    )
    assert "hnsw" in index[0]
    assert kb.search("E-4019", k=1, mode="vector").hits[0].citation.heading.endswith("E-4019")
    store.close()


def test_postgres_word_counts_follow_every_write(
    pgvector_dsn: str, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    """BM25's document frequencies (kept by triggers) equal a recount after ingest,
    replacement and deletion, per tenant, and are rebuilt for chunks stored before."""
    store = PostgresKnowledgeStore(pgvector_dsn)
    kb = KnowledgeBase(store, embedder)
    folder = tmp_path / "docs"
    shutil.copytree(CORPUS, folder)
    kb.ingest(folder)
    kb.ingest(CORPUS / "errors.md", tenant_id="globex")
    (folder / "stores.md").write_text("# Stores\n\n## Opening hours\n\nOpen 24 hours a day.\n")
    kb.ingest(folder)
    assert store.delete_document("default", "errors.md")
    recount = (
        "SELECT c.tenant_id, u.lexeme, count(*) FROM kb_chunks c, unnest(c.tsv) u "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    )
    counted = store._all(recount)  # pyright: ignore[reportPrivateUsage]
    kept = "SELECT tenant_id, lexeme, chunks FROM kb_terms ORDER BY 1, 2"
    terms = store._all(kept)  # pyright: ignore[reportPrivateUsage]
    assert terms == counted and ("globex", "4017", 1) in counted
    store._all("DELETE FROM kb_terms RETURNING 1")  # pyright: ignore[reportPrivateUsage]
    store.close()
    reopened = PostgresKnowledgeStore(pgvector_dsn)  # a store from before kb_terms existed
    assert reopened._all(kept) == counted  # pyright: ignore[reportPrivateUsage]
    reopened.close()
