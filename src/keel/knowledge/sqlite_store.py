"""`SQLiteKnowledgeStore`: the embedded default — FTS5 for text, exact vector search.

Vectors live as float32 blobs beside their chunks; search multiplies the tenant's matrix
by the query (numpy: a few ms at 100k x 384), which needs no index to build, keep in
step or repair, and is exact. The matrix is loaded once per tenant and reloaded only
when that tenant's `generation` (bumped by every write, from any process) changes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from keel.embeddings.base import Vectors
from keel.knowledge.chunking import TextChunk
from keel.knowledge.store import ChunkRow, KnowledgeIndexError
from keel.storage.sqlite import SQLiteDatabase

__all__ = ["SQLiteKnowledgeStore"]

REBUILD_HINT = "rebuild it with `keel kb rebuild` (add --app as for ingest)"


@dataclass(slots=True)
class _Matrix:
    generation: int
    ids: np.ndarray
    rows: Vectors


class SQLiteKnowledgeStore:
    def __init__(self, database: SQLiteDatabase) -> None:
        self.db = database
        self._matrices: dict[str, _Matrix] = {}

    def document_hash(self, tenant_id: str, document: str) -> str | None:
        with self._reading() as conn:
            row = conn.execute(
                "SELECT content_hash FROM kb_documents WHERE tenant_id = ? AND path = ?",
                (tenant_id, document),
            ).fetchone()
        return None if row is None else str(row[0])

    def document_with_hash(self, tenant_id: str, content_hash: str) -> str | None:
        with self._reading() as conn:
            row = conn.execute(
                "SELECT path FROM kb_documents WHERE tenant_id = ? AND content_hash = ? LIMIT 1",
                (tenant_id, content_hash),
            ).fetchone()
        return None if row is None else str(row[0])

    def replace_document(
        self,
        tenant_id: str,
        document: str,
        content_hash: str,
        chunks: Sequence[TextChunk],
        vectors: Vectors,
    ) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            _delete(conn, tenant_id, document)
            conn.execute(
                "INSERT INTO kb_documents (tenant_id, path, content_hash, chunks, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (tenant_id, document, content_hash, len(chunks), now),
            )
            for ordinal, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True)):
                cursor = conn.execute(
                    "INSERT INTO kb_chunks (tenant_id, path, ordinal, heading, text, embedding) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (tenant_id, document, ordinal, chunk.heading, chunk.text, vector.tobytes()),
                )
                conn.execute(
                    "INSERT INTO kb_fts (rowid, heading, text, tenant_id) VALUES (?, ?, ?, ?)",
                    (cursor.lastrowid, chunk.heading, chunk.text, tenant_id),
                )
            _bump(conn, tenant_id)

    def delete_document(self, tenant_id: str, document: str) -> bool:
        with self.db.transaction() as conn:
            deleted = _delete(conn, tenant_id, document)
            _bump(conn, tenant_id)
        return deleted

    def text_search(self, tenant_id: str, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT rowid, bm25(kb_fts, 2.0, 1.0) AS rank FROM kb_fts "
                "WHERE kb_fts MATCH ? AND tenant_id = ? ORDER BY rank LIMIT ?",
                (match, tenant_id, k),
            ).fetchall()
        return [(int(i), -float(score)) for i, score in rows]

    def vector_search(self, tenant_id: str, vector: Vectors, k: int) -> list[tuple[int, float]]:
        matrix = self._matrix(tenant_id)
        if not len(matrix.ids):
            return []
        scores = matrix.rows @ vector.ravel()
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(matrix.ids[i]), float(scores[i])) for i in top]

    def similarities(self, tenant_id: str, ids: Sequence[int], vector: Vectors) -> dict[int, float]:
        matrix = self._matrix(tenant_id)
        if not ids or not len(matrix.ids):
            return {}
        wanted = np.asarray(ids, dtype=np.int64)
        at = np.searchsorted(matrix.ids, wanted)  # ids are loaded in ascending order
        at = at[(at < len(matrix.ids))]
        rows = at[np.isin(matrix.ids[at], wanted)]
        scores = matrix.rows[rows] @ vector.ravel()
        return {int(matrix.ids[r]): float(s) for r, s in zip(rows, scores, strict=True)}

    def chunks(self, tenant_id: str, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._reading() as conn:
            rows = conn.execute(
                # `+tenant_id`: look rows up by id; an index on tenant_id would scan them all
                "SELECT id, path, heading, ordinal, text FROM kb_chunks "
                f"WHERE +tenant_id = ? AND id IN ({marks})",
                (tenant_id, *ids),
            ).fetchall()
        return {int(r[0]): ChunkRow(int(r[0]), r[1], r[2], int(r[3]), r[4]) for r in rows}

    def counts(self, tenant_id: str) -> tuple[int, int]:
        with self._reading() as conn:
            docs, chunks = conn.execute(
                "SELECT count(*), coalesce(sum(chunks), 0) FROM kb_documents WHERE tenant_id = ?",
                (tenant_id,),
            ).fetchone()
        return int(docs), int(chunks)

    def documents(self, tenant_id: str) -> list[tuple[str, int]]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT path, chunks FROM kb_documents WHERE tenant_id = ? ORDER BY path",
                (tenant_id,),
            ).fetchall()
        return [(str(p), int(n)) for p, n in rows]

    def rebuild(self, tenant_id: str | None = None) -> int:
        """Re-create the full-text index from the chunks (all tenants: FTS5 rebuilds whole)."""
        with self.db.transaction() as conn:
            _drop_fts(conn)
            conn.execute(_FTS_TABLE)
            count = conn.execute(
                "INSERT INTO kb_fts (rowid, heading, text, tenant_id) "
                "SELECT id, heading, text, tenant_id FROM kb_chunks"
            ).rowcount
            conn.execute("UPDATE kb_state SET generation = generation + 1")
        self._matrices.clear()
        return count

    def _matrix(self, tenant_id: str) -> _Matrix:
        with self._reading() as conn:
            row = conn.execute(
                "SELECT generation FROM kb_state WHERE tenant_id = ?", (tenant_id,)
            ).fetchone()
            generation = int(row[0]) if row else 0
            cached = self._matrices.get(tenant_id)
            if cached is not None and cached.generation == generation:
                return cached
            rows = conn.execute(
                "SELECT id, embedding FROM kb_chunks WHERE tenant_id = ? ORDER BY id", (tenant_id,)
            ).fetchall()
        matrix = _load(generation, rows)
        self._matrices[tenant_id] = matrix
        return matrix

    @contextmanager
    def _reading(self) -> Generator[sqlite3.Connection]:
        try:
            with self.db.reading() as conn:
                yield conn
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "fts5: syntax" in str(exc):
                raise
            raise KnowledgeIndexError(
                f"the knowledge index is damaged ({exc}); {REBUILD_HINT}"
            ) from exc


_FTS_TABLE = (
    "CREATE VIRTUAL TABLE kb_fts USING fts5(heading, text, tenant_id UNINDEXED, "
    "tokenize = 'unicode61 remove_diacritics 2')"
)


def _drop_fts(conn: sqlite3.Connection) -> None:
    """Drop the full-text index even when it is too damaged to open: `DROP TABLE` on an
    FTS5 table first constructs it, which fails on a damaged structure record. So its
    schema row is removed directly (bumping the schema version, so every connection
    rereads the schema) and its shadow tables dropped as the plain tables they are."""
    (version,) = conn.execute("PRAGMA schema_version").fetchone()
    conn.execute("PRAGMA writable_schema = ON")
    try:
        conn.execute("DELETE FROM sqlite_master WHERE type = 'table' AND name = 'kb_fts'")
        conn.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")
    for shadow in ("data", "idx", "content", "docsize", "config"):
        conn.execute(f"DROP TABLE IF EXISTS kb_fts_{shadow}")


def _load(generation: int, rows: list[tuple[int, bytes]]) -> _Matrix:
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    blob = b"".join(r[1] for r in rows)
    if rows and len(blob) % (4 * len(rows)):
        raise KnowledgeIndexError(f"stored vectors have mixed sizes; {REBUILD_HINT}")
    width = len(blob) // 4 // max(len(rows), 1)
    vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), width)
    return _Matrix(generation, ids, vectors)


def _delete(conn: sqlite3.Connection, tenant_id: str, document: str) -> bool:
    conn.execute(
        "DELETE FROM kb_fts WHERE rowid IN "
        "(SELECT id FROM kb_chunks WHERE tenant_id = ? AND path = ?)",
        (tenant_id, document),
    )
    conn.execute("DELETE FROM kb_chunks WHERE tenant_id = ? AND path = ?", (tenant_id, document))
    return (
        conn.execute(
            "DELETE FROM kb_documents WHERE tenant_id = ? AND path = ?", (tenant_id, document)
        ).rowcount
        > 0
    )


def _bump(conn: sqlite3.Connection, tenant_id: str) -> None:
    conn.execute(
        "INSERT INTO kb_state (tenant_id, generation) VALUES (?, 1) "
        "ON CONFLICT(tenant_id) DO UPDATE SET generation = generation + 1",
        (tenant_id,),
    )
