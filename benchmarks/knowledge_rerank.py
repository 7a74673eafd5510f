"""Re-rank overhead: knowledge-base searches without and with `HttpReranker`.

The labelled questions of `tests/knowledge` (repeated `--rounds` times) are searched on
the corpus there (SQLite, k 5, the default 20 re-rank candidates) with re-ranking off,
then on, against the tests' local rerank server (`tests/knowledge/rerank_server.py`)
answering at once in reverse order. So the difference is Keel's side of a re-rank —
fetching the candidates' text, the HTTP round trip over loopback, JSON both ways — and
not any model's time, which a real reranker adds on top (tens of ms for a cross-encoder
on 20 passages). Queries are embedded with the instant hash embedder, the same for both.
"CPU" is this thread's; the server runs in another thread of this process.

    .venv/bin/python benchmarks/knowledge_rerank.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks._common import first_paragraph, machine_line, print_table
from tests.knowledge.rerank_server import RerankServer

from keel.embeddings.base import HashEmbedder
from keel.knowledge import HttpReranker, KnowledgeBase, SQLiteKnowledgeStore
from keel.storage import SQLiteDatabase

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "knowledge" / "corpus"
QUESTIONS = ROOT / "tests" / "knowledge" / "questions.json"


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95)]


def measure(kb: KnowledgeBase, queries: list[str], rerank: bool) -> list[str]:
    wall: list[float] = []
    started = time.thread_time()
    for query in queries:
        start = time.perf_counter()
        result = kb.search(query, k=5, rerank=rerank)
        wall.append((time.perf_counter() - start) * 1000)
        assert result.rerank == ("applied" if rerank else "off"), result.note
    p50, p95 = percentiles(wall)
    cpu = (time.thread_time() - started) / len(queries) * 1000
    return [f"{p50:.2f}", f"{p95:.2f}", f"{cpu:.2f}"]


def call_alone(reranker: HttpReranker, queries: list[str], documents: list[str]) -> list[str]:
    """The HTTP call by itself: 20 passages out, 5 (index, score) pairs back."""
    wall: list[float] = []
    started = time.thread_time()
    for query in queries:
        start = time.perf_counter()
        reranker.rerank(query, documents, 5)
        wall.append((time.perf_counter() - start) * 1000)
    p50, p95 = percentiles(wall)
    cpu = (time.thread_time() - started) / len(queries) * 1000
    return [f"{p50:.2f}", f"{p95:.2f}", f"{cpu:.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(machine_line())
    questions = json.loads(QUESTIONS.read_text("utf-8"))
    queries = [q["q"] for q in questions] * args.rounds
    with tempfile.TemporaryDirectory() as tmp, RerankServer() as server:
        store = SQLiteKnowledgeStore(SQLiteDatabase(Path(tmp) / "kb.db"))
        reranker = HttpReranker(server.url, "x")
        kb = KnowledgeBase(store, HashEmbedder(384), reranker=reranker)
        kb.ingest(CORPUS)
        passages = [h.text for h in kb.search("refunds and returns", k=20, rerank=False).hits]
        measure(kb, queries[:20], rerank=True)  # warm: connection, caches
        rows = [
            ["off", *measure(kb, queries, rerank=False)],
            ["on (instant local server)", *measure(kb, queries, rerank=True)],
            ["off, again", *measure(kb, queries, rerank=False)],
            ["the HTTP call alone", *call_alone(reranker, queries, passages)],
        ]
    print(f"\n{len(queries)} searches each, k 5, {kb.rerank_candidates} candidates re-ranked")
    print_table(["re-rank", "p50 ms", "p95 ms", "CPU ms / search"], rows)


if __name__ == "__main__":
    main()
