"""`KnowledgeBase`: ingest files into a store, and retrieve from it with citations.

Retrieval is hybrid by default: full-text (BM25) and vector candidates are fused. The
default fusion (`"scores"`) is a convex combination of the two scores, each min-max
normalised over the candidates, weighted equally; reciprocal rank fusion (`"rrf"`, each
list contributes 1 / (60 + rank)) is the alternative. On the labelled question set in
`tests/knowledge` score fusion beat both single retrievers on hit@3 and MRR, while RRF
beat them on hit@3 but fell below vectors alone on MRR (BENCHMARKS.md, issue 8).

Every hit carries a citation (document, heading, chunk, score) and its cosine similarity
to the query; hits under `min_similarity` are dropped, and an empty result says so
(`found_nothing`), which is the agent's signal to say it does not know or to escalate.

An optional `Reranker` (`keel.knowledge.rerank`) then orders the best `rerank_candidates`
fused candidates; the floor applies before it, to the cosine similarity as always, so a
re-rank never brings back a passage under the floor nor hides one above it, and
`found_nothing` keeps its meaning (re-rank scores are each model's own scale: no floor
is put on them). Re-ranked citations carry the model's score beside the fused one. A
reranker that fails leaves the fused order, marked on the result (`rerank="skipped"`
and a `note`) and logged: a search never fails for it.

A tenant's vectors all come from one embedder, which the store records: ingest and
search use it (`embedder_for`), another is refused with the command that re-embeds
(`reembed`). Chunks are cut to the embedder's token window where it has one, so no
chunk's end is lost to the vector side.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from keel.embeddings.base import Embedder, WindowedEmbedder
from keel.embeddings.named import embedder_named
from keel.exceptions import ConfigurationError
from keel.knowledge.chunking import TextChunk, chunk_text, fit_window
from keel.knowledge.reading import MAX_BYTES, Loaded, Skipped, read_file
from keel.knowledge.rerank import Reranker, RerankError
from keel.knowledge.stopwords import STOPWORDS
from keel.knowledge.store import (
    ChunkRow,
    EmbedderMismatchError,
    KnowledgeStore,
    embedding_text,
    query_terms,
)
from keel.principal import DEFAULT_TENANT

__all__ = [
    "Citation",
    "Hit",
    "IngestReport",
    "KnowledgeBase",
    "RerankStatus",
    "SearchMode",
    "SearchResult",
]

SearchMode = Literal["hybrid", "text", "vector"]
RerankStatus = Literal["off", "applied", "skipped"]
RRF_K = 60
MAX_QUERY_CHARS = 4_000
_log = logging.getLogger("keel.knowledge")
Progress = Callable[[int, int, str], None]
"""Called after each file: (files done, files in all, the file's name)."""


@dataclass(frozen=True, slots=True)
class Citation:
    document: str
    heading: str
    chunk: int
    score: float
    """The retrieval score: fused (hybrid), BM25 (text) or cosine (vector)."""
    rerank_score: float | None = None
    """The reranker's score, which ordered the hits; None when not re-ranked."""

    def __str__(self) -> str:
        where = f" > {self.heading}" if self.heading else ""
        rerank = "" if self.rerank_score is None else f", re-rank {self.rerank_score:.3f}"
        return f"{self.document}{where} (chunk {self.chunk}, score {self.score:.3f}{rerank})"


@dataclass(frozen=True, slots=True)
class Hit:
    text: str
    citation: Citation
    similarity: float
    """Cosine similarity of the chunk to the query (the floor applies to it)."""


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    hits: list[Hit]
    mode: SearchMode
    rerank: RerankStatus = "off"
    """"applied"; "skipped" when the reranker failed (the hits are in fused order and
    `note` says why); "off" without a reranker or with nothing to re-rank."""
    note: str = ""

    @property
    def found_nothing(self) -> bool:
        return not self.hits


@dataclass(slots=True)
class IngestReport:
    files: int = 0
    ingested: list[tuple[str, int]] = field(default_factory=list[tuple[str, int]])
    unchanged: list[str] = field(default_factory=list[str])
    skipped: list[Skipped] = field(default_factory=list[Skipped])
    converted: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    seconds: float = 0.0

    @property
    def chunks(self) -> int:
        return sum(n for _, n in self.ingested)


class KnowledgeBase:
    """Documents of one store, embedded with one embedder, scoped by tenant."""

    def __init__(
        self,
        store: KnowledgeStore,
        embedder: Embedder | str | None = None,
        *,
        max_chars: int = 1_200,
        overlap: int = 200,
        max_bytes: int = MAX_BYTES,
        fusion: Literal["scores", "rrf"] = "scores",
        vector_weight: float = 0.5,
        reranker: Reranker | None = None,
        rerank_candidates: int = 20,
    ) -> None:
        if rerank_candidates < 1:
            raise ConfigurationError(f"rerank_candidates must be at least 1: {rerank_candidates}")
        self.reranker, self.rerank_candidates = reranker, rerank_candidates
        if fusion not in ("scores", "rrf"):
            raise ConfigurationError(f"fusion must be 'scores' or 'rrf', got {fusion!r}")
        if not 0 <= vector_weight <= 1:
            raise ConfigurationError(f"vector_weight must be in [0, 1], got {vector_weight}")
        self.fusion, self.vector_weight = fusion, vector_weight
        self.store = store
        self._embedder = embedder_named(embedder) if isinstance(embedder, str) else embedder
        self.max_chars, self.overlap, self.max_bytes = max_chars, overlap, max_bytes

    @property
    def embedder(self) -> Embedder:
        """The embedder given, else the default (MiniLM): what `reembed` uses."""
        return self._embedder if self._embedder is not None else embedder_named("minilm")

    def embedder_for(self, tenant_id: str) -> Embedder:
        """The embedder of the tenant's stored vectors: ingest and search must use it.
        Without one given, the store's recorded one is used (any local embedder, found
        by name); a given one that differs from the record is an error naming the fix."""
        recorded = self.store.embedder(tenant_id)
        if self._embedder is not None:
            if recorded not in (None, self._embedder.name):
                raise EmbedderMismatchError(tenant_id, recorded, self._embedder.name)
            return self._embedder
        if recorded is None:
            return self.embedder
        try:
            return embedder_named(recorded)
        except ConfigurationError:
            raise EmbedderMismatchError(tenant_id, recorded, self.embedder.name) from None

    def reembed(self, tenant_id: str = DEFAULT_TENANT) -> int:
        """Embed the tenant's stored chunks again with `embedder`; returns their number."""
        return self.store.reembed(tenant_id, self.embedder)

    def ingest(
        self,
        path: str | Path,
        *,
        tenant_id: str = DEFAULT_TENANT,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest a file or every file under a folder; unchanged files are not redone."""
        root = Path(path).expanduser()
        if not root.exists():
            raise ConfigurationError(f"no such file or folder: {str(root)!r}")
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        base = root if root.is_dir() else root.parent
        report, seen, started = (
            IngestReport(files=len(files)),
            dict[str, str](),
            time.perf_counter(),
        )
        embedder = self.embedder_for(tenant_id)
        for done, file in enumerate(files, 1):
            name = file.relative_to(base).as_posix()
            self._ingest_one(file, name, (tenant_id, embedder), report, seen)
            if progress is not None:
                progress(done, len(files), name)
        report.seconds = time.perf_counter() - started
        return report

    def _ingest_one(
        self,
        file: Path,
        name: str,
        into: tuple[str, Embedder],
        report: IngestReport,
        seen: dict[str, str],
    ) -> None:
        tenant_id, embedder = into
        loaded = read_file(file, max_bytes=self.max_bytes)
        if isinstance(loaded, Skipped):
            report.skipped.append(Skipped(name, loaded.reason))
            return
        if self.store.document_hash(tenant_id, name) == loaded.hash:
            report.unchanged.append(name)
            seen[loaded.hash] = name
            return
        twin = seen.get(loaded.hash) or self.store.document_with_hash(tenant_id, loaded.hash)
        if twin is not None and twin != name:
            report.skipped.append(Skipped(name, f"duplicate of {twin}"))
            return
        seen[loaded.hash] = name
        chunks = self.chunk(loaded, embedder)
        vectors = embedder.embed([embedding_text(c.heading, c.text) for c in chunks])
        self.store.replace_document(
            tenant_id, name, loaded.hash, chunks, vectors, embedder=embedder.name
        )
        report.ingested.append((name, len(chunks)))
        if loaded.note:
            report.converted.append((name, loaded.note))

    def chunk(self, loaded: Loaded, embedder: Embedder | None = None) -> list[TextChunk]:
        """Chunks of `max_chars`, then cut to the embedder's window where it has one (a
        chunk longer than the model reads would lose its end to the vector side)."""
        chunks = chunk_text(
            loaded.text, kind=loaded.kind, max_chars=self.max_chars, overlap=self.overlap
        )
        embedder = embedder or self.embedder
        if isinstance(embedder, WindowedEmbedder):
            return fit_window(chunks, embedder.window, embedder.text_tokens)
        return chunks

    def search(
        self,
        query: str,
        *,
        tenant_id: str = DEFAULT_TENANT,
        k: int = 5,
        mode: SearchMode = "hybrid",
        min_similarity: float | None = None,
        rerank: bool = True,
    ) -> SearchResult:
        """The k best passages; `rerank=False` leaves out the configured reranker."""
        if k < 1:
            raise ConfigurationError(f"k must be at least 1, got {k}")
        if mode not in ("hybrid", "text", "vector"):
            raise ConfigurationError(f"mode must be hybrid, text or vector, got {mode!r}")
        terms = query_terms(query)
        words = [t for t in terms if t not in STOPWORDS] or terms
        vector = self.embedder_for(tenant_id).embed([query[:MAX_QUERY_CHARS]])[0]
        reranker = self.reranker if rerank else None
        pool = max(4 * k, 20, self.rerank_candidates if reranker else 0)
        text = self.store.text_search(tenant_id, words, pool) if mode != "vector" else []
        near = self.store.vector_search(tenant_id, vector, pool) if mode != "text" else []
        similarity = self.store.similarities(tenant_id, list({*dict(text), *dict(near)}), vector)
        ranked = self._rank(mode, text, near, similarity)
        floor = -1.0 if min_similarity is None else min_similarity
        above = [(i, s) for i, s in ranked if similarity.get(i, -1.0) >= floor]
        candidates = above[: max(k, self.rerank_candidates) if reranker else k]
        rows = self.store.chunks(tenant_id, [i for i, _ in candidates])
        found = [(rows[i], score, similarity[i]) for i, score in candidates if i in rows]
        if reranker is None or not found:
            return SearchResult(query, [_hit(*f) for f in found], mode)
        return _reranked(reranker, SearchResult(query, [], mode), found, k)

    def _rank(
        self,
        mode: SearchMode,
        text: list[tuple[int, float]],
        near: list[tuple[int, float]],
        similarity: dict[int, float],
    ) -> list[tuple[int, float]]:
        if mode == "text":
            return text
        if mode == "vector":
            return near
        if self.fusion == "rrf":
            return list(fuse([[i for i, _ in text], [i for i, _ in near]]).items())
        return combine(dict(text), similarity, self.vector_weight)


def fuse(rankings: Iterable[Sequence[int]]) -> dict[int, float]:
    """Reciprocal rank fusion: ids by the sum of 1 / (60 + rank) over the lists."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, 1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    return dict(sorted(scores.items(), key=lambda item: -item[1]))


def combine(
    text: dict[int, float], similarity: dict[int, float], vector_weight: float
) -> list[tuple[int, float]]:
    """Convex combination of min-max normalised scores over the candidates of both lists:
    vector_weight * cosine + (1 - vector_weight) * BM25 (0 for chunks the text search
    did not return)."""
    if not similarity:
        return []
    low, high = min(similarity.values()), max(similarity.values())
    top_text = max(text.values(), default=0.0) or 1.0
    scores = {
        i: vector_weight * (s - low) / (high - low or 1.0)
        + (1 - vector_weight) * max(text.get(i, 0.0), 0.0) / top_text
        for i, s in similarity.items()
    }
    return sorted(scores.items(), key=lambda item: -item[1])


Found = tuple[ChunkRow, float, float]
"""A candidate passage: its row, retrieval score and cosine similarity."""


def _reranked(reranker: Reranker, result: SearchResult, found: list[Found], k: int) -> SearchResult:
    """The k best of `found` in the reranker's order; its failure leaves the fused order,
    noted on the result. Candidates it did not score follow in fused order, so a short
    answer never turns found passages into "found nothing"."""
    texts = [embedding_text(row.heading, row.text) for row, _, _ in found]
    try:
        order = reranker.rerank(result.query[:MAX_QUERY_CHARS], texts, k)
    except Exception as exc:  # a reranker never fails a search: fused order, said so
        note = f"re-rank skipped, passages in fused order: {exc}"
        _log.warning("%s (reranker %s)", note, reranker.name, exc_info=not _expected(exc))
        hits = [_hit(*f) for f in found[:k]]
        return replace(result, hits=hits, rerank="skipped", note=note)
    scored = dict(order)
    first = [n for n in scored if 0 <= n < len(found)]
    rest = [n for n in range(len(found)) if n not in scored]
    hits = [_hit(*found[n], rerank_score=scored.get(n)) for n in [*first, *rest][:k]]
    return replace(result, hits=hits, rerank="applied")


def _expected(exc: Exception) -> bool:
    return isinstance(exc, RerankError)


def _hit(row: ChunkRow, score: float, similarity: float, rerank_score: float | None = None) -> Hit:
    citation = Citation(row.document, row.heading, row.ordinal, score, rerank_score)
    return Hit(row.text, citation, similarity)
