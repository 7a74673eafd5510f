"""`PostgresKnowledgeStore`: the knowledge base on PostgreSQL — pgvector's HNSW index for
vectors, a generated `tsvector` with a GIN index for full text (ranked by `ts_rank`).

Tables are created on first use (`CREATE … IF NOT EXISTS`, in the connection's schema),
so pointing a store at a fresh database is enough. Filtered vector search uses pgvector's
iterative index scans, so a tenant's k nearest are found even when other tenants' chunks
crowd the graph. Extra `pgvector` (psycopg); the server needs the `vector` extension.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from typing import Any

from keel.embeddings.base import Embedder, Vectors
from keel.exceptions import MissingExtraError
from keel.knowledge.chunking import TextChunk
from keel.knowledge.postgres_text import (
    RECOUNT,
    SCHEMA_LOCK,
    TENANT_LOCK,
    TERMS_FUNCTION,
    TERMS_SCHEMA,
    text_search,
)
from keel.knowledge.store import ChunkRow, EmbedderMismatchError, embedding_text

__all__ = ["PostgresKnowledgeStore"]


def _words(column: str) -> str:
    """The column with punctuation turned to spaces: PostgreSQL's parser would read the
    "-211" of "HX-211" as a signed number; the query side splits words the same way."""
    return f"regexp_replace({column}, '[^[:alnum:]]+', ' ', 'g')"


def _schema(dimensions: int) -> list[str]:
    return [
        "CREATE EXTENSION IF NOT EXISTS vector",
        "CREATE TABLE IF NOT EXISTS kb_documents (tenant_id text NOT NULL, path text NOT NULL, "
        "content_hash text NOT NULL, chunks integer NOT NULL, updated_at double precision "
        "NOT NULL, PRIMARY KEY (tenant_id, path))",
        "CREATE INDEX IF NOT EXISTS kb_documents_by_hash ON kb_documents (tenant_id, content_hash)",
        "CREATE TABLE IF NOT EXISTS kb_chunks (id bigserial PRIMARY KEY, tenant_id text NOT NULL, "
        "path text NOT NULL, ordinal integer NOT NULL, heading text NOT NULL, text text NOT NULL, "
        f"embedding vector({dimensions}) NOT NULL, tsv tsvector GENERATED ALWAYS AS "
        f"(setweight(to_tsvector('simple', {_words('heading')}), 'A') || "
        f"to_tsvector('simple', {_words('text')})) STORED)",
        "CREATE INDEX IF NOT EXISTS kb_chunks_by_document ON kb_chunks (tenant_id, path)",
        *_EMBEDDERS,
        "CREATE INDEX IF NOT EXISTS kb_chunks_tsv ON kb_chunks USING gin (tsv)",
        *TERMS_SCHEMA,
    ]


_EMBEDDERS = [
    "DO $$ BEGIN IF to_regclass('kb_embedders') IS NULL THEN "
    "CREATE TABLE kb_embedders (tenant_id text PRIMARY KEY, embedder text NOT NULL); "
    # chunks written before embedders were recorded came from the only local one then
    "INSERT INTO kb_embedders SELECT DISTINCT tenant_id, 'all-MiniLM-L6-v2-int8' "
    "FROM kb_chunks; END IF; END $$",
]
"""The embedder of each tenant's vectors (see the SQLite migration 0085_kb_embedders)."""


_RELATIONS = (
    "kb_documents", "kb_documents_by_hash", "kb_chunks", "kb_chunks_by_document",
    "kb_embedders", "kb_chunks_tsv", "kb_terms", "kb_chunks_hnsw",
)  # fmt: skip
_HAS_EVERYTHING = (
    "SELECT NOT EXISTS (SELECT FROM unnest(%s::text[]) n WHERE to_regclass(n) IS NULL) "
    "AND (SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure('kb_terms_count()')) = %s "
    "AND (SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass('kb_chunks') "
    "AND tgname IN ('kb_terms_add', 'kb_terms_remove')) = 2"
)


def _vector_index(m: int, ef_construction: int) -> str:
    return (
        "CREATE INDEX IF NOT EXISTS kb_chunks_hnsw ON kb_chunks USING hnsw "
        f"(embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef_construction})"
    )


BUILD_MEMORY = "1GB"
"""For building the HNSW index after a bulk load (100k x 384 needs ~300 MB; pgvector
takes only what the graph needs; past the limit it builds on disk, several times slower)."""


def vector_literal(vector: Vectors) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.ravel().tolist()) + "]"


class PostgresKnowledgeStore:
    """Pass a connection string (`postgresql://…`). The HNSW index is built with `m` and
    `ef_construction` (pgvector's defaults); `ef_search` trades speed for recall at query
    time. The defaults found the exact 10 nearest 99.7-100 % of the time on 100k chunks
    of mixed real embeddings; data made of tight islands of near-duplicates needs far more
    (BENCHMARKS.md, issue 8)."""

    def __init__(
        self,
        dsn: str,
        *,
        dimensions: int = 384,
        ef_search: int = 100,
        m: int = 16,
        ef_construction: int = 64,
    ) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise MissingExtraError("the PostgreSQL knowledge store", "pgvector") from exc
        self._conn: Any = psycopg.connect(dsn, autocommit=True)
        self._lock = threading.Lock()
        self.dimensions, self._vector_index = (
            dimensions,
            _vector_index(int(m), int(ef_construction)),
        )
        with self._lock:
            if not self._schema_current():
                self._create_schema()
            self._conn.execute(f"SET hnsw.ef_search = {int(ef_search)}")
            self._conn.execute("SET hnsw.iterative_scan = relaxed_order")

    def _schema_current(self) -> bool:
        """Whether every table, index, trigger and this version's trigger function exist
        and the word counts are filled: the usual open then runs no DDL at all."""
        if self._conn.execute(_HAS_EVERYTHING, (list(_RELATIONS), TERMS_FUNCTION)).fetchone()[0]:
            return not self._terms_missing()
        return False

    def _create_schema(self) -> None:
        """Create or upgrade the schema holding `SCHEMA_LOCK` exclusively: writers hold
        it shared (`_write`), so DDL neither races another opening process ("tuple
        concurrently updated") nor deadlocks on table locks with a writer in flight."""
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", SCHEMA_LOCK)
            for statement in [*_schema(self.dimensions), self._vector_index]:
                self._conn.execute(statement)
            if self._terms_missing():  # chunks stored before kb_terms existed: count them
                for statement in RECOUNT:
                    self._conn.execute(statement)

    def _terms_missing(self) -> bool:
        (missing,) = self._conn.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM kb_terms) AND EXISTS (SELECT 1 FROM kb_chunks)"
        ).fetchone()
        return bool(missing)

    @contextmanager
    def _write(self, tenant_id: str) -> Generator[None]:
        """A transaction holding the tenant's advisory lock from its first statement:
        writers of one tenant take turns, so their word-count updates cannot deadlock
        and a document replaced by two at once is not stored twice (the second's delete
        sees the first's chunks). Tenants still write in parallel."""
        with self._lock, self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", SCHEMA_LOCK)
            self._conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (TENANT_LOCK, tenant_id)
            )
            yield

    def _all(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def document_hash(self, tenant_id: str, document: str) -> str | None:
        rows = self._all(
            "SELECT content_hash FROM kb_documents WHERE tenant_id = %s AND path = %s",
            (tenant_id, document),
        )
        return str(rows[0][0]) if rows else None

    def document_with_hash(self, tenant_id: str, content_hash: str) -> str | None:
        rows = self._all(
            "SELECT path FROM kb_documents WHERE tenant_id = %s AND content_hash = %s LIMIT 1",
            (tenant_id, content_hash),
        )
        return str(rows[0][0]) if rows else None

    def replace_document(
        self,
        tenant_id: str,
        document: str,
        content_hash: str,
        chunks: Sequence[TextChunk],
        vectors: Vectors,
        *,
        embedder: str,
    ) -> None:
        rows = [
            (tenant_id, document, n, c.heading, c.text, vector_literal(v))
            for n, (c, v) in enumerate(zip(chunks, vectors, strict=True))
        ]
        with self._write(tenant_id):
            self._delete(tenant_id, document)
            self._claim(tenant_id, embedder)
            self._conn.execute(
                "INSERT INTO kb_documents (tenant_id, path, content_hash, chunks, updated_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (tenant_id, document, content_hash, len(chunks), time.time()),
            )
            with self._conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO kb_chunks (tenant_id, path, ordinal, heading, text, embedding) "
                    "VALUES (%s, %s, %s, %s, %s, %s::vector)",
                    rows,
                )

    def _claim(self, tenant_id: str, embedder: str) -> None:
        """Record `embedder` for the tenant unless it holds chunks of another (an error).
        Insert first, then lock the row: two first writers cannot both claim."""
        claimed = self._conn.execute(
            "INSERT INTO kb_embedders (tenant_id, embedder) VALUES (%s, %s) "
            "ON CONFLICT (tenant_id) DO NOTHING",
            (tenant_id, embedder),
        )
        if claimed.rowcount:
            return
        (recorded,) = self._conn.execute(
            "SELECT embedder FROM kb_embedders WHERE tenant_id = %s FOR UPDATE", (tenant_id,)
        ).fetchone()
        if recorded == embedder:
            return
        held = self._conn.execute(
            "SELECT 1 FROM kb_documents WHERE tenant_id = %s LIMIT 1", (tenant_id,)
        ).fetchone()
        if held:
            raise EmbedderMismatchError(tenant_id, str(recorded), embedder)
        self._record(tenant_id, embedder)  # nothing stored any more: the tenant starts afresh

    def _record(self, tenant_id: str, embedder: str) -> None:
        self._conn.execute(
            "INSERT INTO kb_embedders (tenant_id, embedder) VALUES (%s, %s) "
            "ON CONFLICT (tenant_id) DO UPDATE SET embedder = excluded.embedder",
            (tenant_id, embedder),
        )

    def embedder(self, tenant_id: str) -> str | None:
        rows = self._all(
            "SELECT embedder FROM kb_embedders e WHERE e.tenant_id = %s AND EXISTS "
            "(SELECT 1 FROM kb_documents d WHERE d.tenant_id = e.tenant_id)",
            (tenant_id,),
        )
        return str(rows[0][0]) if rows else None

    def reembed(self, tenant_id: str, embedder: Embedder) -> int:
        """In place, in one transaction holding the tenant's rows (writers wait)."""
        with self._write(tenant_id):
            rows = self._conn.execute(
                "SELECT id, heading, text FROM kb_chunks WHERE tenant_id = %s ORDER BY id "
                "FOR UPDATE",
                (tenant_id,),
            ).fetchall()
            vectors = embedder.embed([embedding_text(h, t) for _, h, t in rows])
            with self._conn.cursor() as cursor:
                cursor.executemany(
                    "UPDATE kb_chunks SET embedding = %s::vector WHERE id = %s",
                    [(vector_literal(v), i) for (i, _, _), v in zip(rows, vectors, strict=True)],
                )
            self._record(tenant_id, embedder.name)
        return len(rows)

    def _delete(self, tenant_id: str, document: str) -> bool:
        self._conn.execute(
            "DELETE FROM kb_chunks WHERE tenant_id = %s AND path = %s", (tenant_id, document)
        )
        cursor = self._conn.execute(
            "DELETE FROM kb_documents WHERE tenant_id = %s AND path = %s", (tenant_id, document)
        )
        return cursor.rowcount > 0

    def delete_document(self, tenant_id: str, document: str) -> bool:
        with self._write(tenant_id):
            return self._delete(tenant_id, document)

    def text_search(self, tenant_id: str, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """BM25 over candidates chosen through the rarest words (`postgres_text`)."""
        total = self.counts(tenant_id)[1]  # from the small documents table, not a scan
        return text_search(self._all, tenant_id, terms, total, k)

    def vector_search(self, tenant_id: str, vector: Vectors, k: int) -> list[tuple[int, float]]:
        rows = self._all(
            "SELECT id, 1 - (embedding <=> %s::vector) FROM kb_chunks WHERE tenant_id = %s "
            "ORDER BY embedding <=> %s::vector LIMIT %s",
            (literal := vector_literal(vector), tenant_id, literal, k),
        )
        return [(int(i), float(s)) for i, s in rows]

    def similarities(self, tenant_id: str, ids: Sequence[int], vector: Vectors) -> dict[int, float]:
        if not ids:
            return {}
        rows = self._all(
            "SELECT id, 1 - (embedding <=> %s::vector) FROM kb_chunks "
            "WHERE tenant_id = %s AND id = ANY(%s)",
            (vector_literal(vector), tenant_id, list(ids)),
        )
        return {int(i): float(s) for i, s in rows}

    def chunks(self, tenant_id: str, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        rows = self._all(
            "SELECT id, path, heading, ordinal, text FROM kb_chunks "
            "WHERE tenant_id = %s AND id = ANY(%s)",
            (tenant_id, list(ids)),
        )
        return {int(r[0]): ChunkRow(int(r[0]), r[1], r[2], int(r[3]), r[4]) for r in rows}

    def counts(self, tenant_id: str) -> tuple[int, int]:
        ((docs, chunks),) = self._all(
            "SELECT count(*), coalesce(sum(chunks), 0) FROM kb_documents WHERE tenant_id = %s",
            (tenant_id,),
        )
        return int(docs), int(chunks)

    def documents(self, tenant_id: str) -> list[tuple[str, int]]:
        rows = self._all(
            "SELECT path, chunks FROM kb_documents WHERE tenant_id = %s ORDER BY path",
            (tenant_id,),
        )
        return [(str(p), int(n)) for p, n in rows]

    @contextmanager
    def bulk_load(self) -> Generator[None]:
        """Load many documents without the HNSW index, then build it once: an HNSW
        graph built from all rows is several times faster than one grown row by row, and
        faster again when it fits in `maintenance_work_mem` (raised for the build)."""
        with self._lock:
            self._conn.execute("DROP INDEX IF EXISTS kb_chunks_hnsw")
        try:
            yield
        finally:
            with self._lock, self._conn.transaction():
                self._conn.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
                self._conn.execute(self._vector_index)

    def rebuild(self, tenant_id: str | None = None) -> int:
        with self._lock:
            for index in ("kb_chunks_tsv", "kb_chunks_hnsw", "kb_chunks_by_document"):
                self._conn.execute(f"REINDEX INDEX {index}")
            with self._conn.transaction():
                for statement in RECOUNT:
                    self._conn.execute(statement)
            (count,) = self._conn.execute("SELECT count(*) FROM kb_chunks").fetchone()
        return int(count)

    def close(self) -> None:
        self._conn.close()
