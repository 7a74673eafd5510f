"""`SQLiteKnowledgeStore`: the embedded default — chunks and vectors in SQLite, searched
in memory.

Chunks and their float32 vectors are rows of `kb_chunks`; nothing derived is stored. Per
tenant, the store keeps the vectors (float32, and their sign bits to scan) and a BM25 term
index (`TermIndex`) in memory, loaded from those rows on first use (~4.5 s of CPU per
100k chunks here) and brought up to date when the tenant's `generation` (bumped by every
write, from any process) changes: deleted chunks are dropped and only new ones read
(~0.7 s at 100k after a 100-chunk write, paid by the next search). Search is ~10 ms of
CPU at 100k chunks. No index on disk means none to repair or keep in step.

Vectors are found by a scan of one sign bit per dimension (of each vector less the
tenant's mean vector: 48 bytes a chunk at 384 dimensions), Hamming distance by numpy's
popcount, and the best `COARSE_POOL` re-scored in float32. It replaced an int8 scan
(usearch), which took 21 ms at 100k on an AVX2-only CPU where float32 took 9 ms and this
takes 6, with the same recall@10 (BENCHMARKS.md, issue 8).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keel.embeddings.base import Embedder, Vectors
from keel.exceptions import ConfigurationError
from keel.knowledge.bm25 import TermIndex
from keel.knowledge.chunking import TextChunk
from keel.knowledge.store import (
    ChunkRow,
    EmbedderMismatchError,
    KnowledgeIndexError,
    embedding_text,
)
from keel.storage.sqlite import SQLiteDatabase

__all__ = ["SQLiteKnowledgeStore"]

REBUILD_HINT = "rebuild it with `keel kb rebuild` (add --app as for ingest)"
COARSE_POOL = 2_000
"""Candidates taken from the sign-bit scan and re-scored in float32 (recall@10 0.997-1.000
against exact search at 100k on both benchmark data sets; 1,000 gave 0.983)."""


_Row = tuple[int, str, str, bytes]
_HELD_BY = (
    "SELECT embedder FROM kb_embedders e WHERE EXISTS "
    "(SELECT 1 FROM kb_documents d WHERE d.tenant_id = e.tenant_id) AND e.tenant_id ="
)
"""The recorded embedder of a tenant that holds documents (an empty one is free)."""


@dataclass(slots=True)
class _Tenant:
    """One tenant's search state; row i of `rows` and position i of `terms` is `ids[i]`."""

    generation: int
    ids: np.ndarray
    rows: Vectors
    terms: TermIndex
    centre: Vectors
    """The mean of `rows`: signs are taken about it, so each bit splits the rows."""
    signs: npt.NDArray[np.uint64]
    """Sign bits of `rows - centre`, packed: 1/32 of the float32 memory to scan."""


class SQLiteKnowledgeStore:
    def __init__(self, database: SQLiteDatabase) -> None:
        self.db = database
        self._tenants: dict[str, _Tenant] = {}

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
        *,
        embedder: str,
    ) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            _delete(conn, tenant_id, document)
            _claim(conn, tenant_id, embedder)
            conn.execute(
                "INSERT INTO kb_documents (tenant_id, path, content_hash, chunks, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (tenant_id, document, content_hash, len(chunks), now),
            )
            conn.executemany(
                "INSERT INTO kb_chunks (tenant_id, path, ordinal, heading, text, embedding) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (tenant_id, document, n, chunk.heading, chunk.text, vector.tobytes())
                    for n, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True))
                ),
            )
            _bump(conn, tenant_id)

    def embedder(self, tenant_id: str) -> str | None:
        with self._reading() as conn:
            row = conn.execute(f"{_HELD_BY} ?", (tenant_id,)).fetchone()
        return None if row is None else str(row[0])

    def reembed(self, tenant_id: str, embedder: Embedder) -> int:
        """Rows are replaced (new ids), never updated in place: the in-memory indexes of
        every process read only rows they have not seen. Embedding happens outside the
        write transaction; a write meanwhile makes this fail, changing nothing."""
        with self._reading() as conn:
            generation = _generation(conn, tenant_id)
            rows: list[tuple[str, int, str, str]] = conn.execute(
                "SELECT path, ordinal, heading, text FROM kb_chunks WHERE tenant_id = ? "
                "ORDER BY id",
                (tenant_id,),
            ).fetchall()
        vectors = embedder.embed([embedding_text(r[2], r[3]) for r in rows])
        with self.db.transaction() as conn:
            if _generation(conn, tenant_id) != generation:
                raise ConfigurationError(
                    "the knowledge base changed while it was being re-embedded; nothing was "
                    "changed: run `keel kb reembed` again"
                )
            conn.execute("DELETE FROM kb_chunks WHERE tenant_id = ?", (tenant_id,))
            conn.executemany(
                "INSERT INTO kb_chunks (tenant_id, path, ordinal, heading, text, embedding) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                ((tenant_id, *row, v.tobytes()) for row, v in zip(rows, vectors, strict=True)),
            )
            _record(conn, tenant_id, embedder.name)
            _bump(conn, tenant_id)
        return len(rows)

    def delete_document(self, tenant_id: str, document: str) -> bool:
        with self.db.transaction() as conn:
            deleted = _delete(conn, tenant_id, document)
            _bump(conn, tenant_id)
        return deleted

    def text_search(self, tenant_id: str, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        tenant = self._tenant(tenant_id)
        return [(int(tenant.ids[p]), score) for p, score in tenant.terms.search(terms, k)]

    def vector_search(self, tenant_id: str, vector: Vectors, k: int) -> list[tuple[int, float]]:
        """`COARSE_POOL` candidates by the sign-bit scan, re-scored with the float32 rows
        (see the module docstring)."""
        tenant = self._tenant(tenant_id)
        if not len(tenant.ids):
            return []
        query = vector.ravel().astype(np.float32)
        pool = _coarse(tenant, query, max(k, COARSE_POOL))
        scores = tenant.rows[pool] @ query
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(tenant.ids[pool[i]]), float(scores[i])) for i in top]

    def similarities(self, tenant_id: str, ids: Sequence[int], vector: Vectors) -> dict[int, float]:
        tenant = self._tenant(tenant_id)
        if not ids or not len(tenant.ids):
            return {}
        wanted = np.asarray(ids, dtype=np.int64)
        at = np.searchsorted(tenant.ids, wanted)  # ids are loaded in ascending order
        at = at[(at < len(tenant.ids))]
        rows = at[np.isin(tenant.ids[at], wanted)]
        scores = tenant.rows[rows] @ vector.ravel()
        return {int(tenant.ids[r]): float(s) for r, s in zip(rows, scores, strict=True)}

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
        """Remove the documents whose stored vectors are damaged (the next ingest redoes
        them) and drop the in-memory indexes, which the next search rebuilds from the
        chunks; returns the chunks left. Nothing derived is stored, so nothing else can
        be damaged in a way a rebuild would repair."""
        scope, args = ("WHERE tenant_id = ?", (tenant_id,)) if tenant_id else ("", ())
        with self.db.transaction() as conn:
            damaged = conn.execute(
                "SELECT DISTINCT tenant_id, path FROM kb_chunks c "
                f"{scope} {'AND' if scope else 'WHERE'} length(embedding) IS NOT "
                "(SELECT length(embedding) FROM kb_chunks WHERE tenant_id = c.tenant_id "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1)",
                args,
            ).fetchall()
            for tenant, document in damaged:
                _delete(conn, tenant, document)
                _bump(conn, tenant)
            (count,) = conn.execute(f"SELECT count(*) FROM kb_chunks {scope}", args).fetchone()
        self._tenants.clear()
        return int(count)

    def _tenant(self, tenant_id: str) -> _Tenant:
        with self._reading() as conn:
            generation = _generation(conn, tenant_id)
            cached = self._tenants.get(tenant_id)
            if cached is not None and cached.generation == generation:
                return cached
            tenant = _refresh(conn, tenant_id, generation, cached)
        self._tenants[tenant_id] = tenant
        return tenant

    @contextmanager
    def _reading(self) -> Generator[sqlite3.Connection]:
        try:
            with self.db.reading() as conn:
                yield conn
        except sqlite3.DatabaseError as exc:
            raise KnowledgeIndexError(
                f"the knowledge index is damaged ({exc}); {REBUILD_HINT}"
            ) from exc


def _refresh(
    conn: sqlite3.Connection, tenant_id: str, generation: int, cached: _Tenant | None
) -> _Tenant:
    """The tenant's state at `generation`. With a cached older one, only chunks added
    since are read and tokenized (new rows get ids above every surviving one) and deleted
    ones are dropped; if the result does not match the table, everything is reloaded."""
    if cached is None or not len(cached.ids):
        return _load(generation, _rows(conn, tenant_id, after=-1))
    ids = np.fromiter(
        (r[0] for r in conn.execute(
            "SELECT id FROM kb_chunks WHERE tenant_id = ? ORDER BY id", (tenant_id,)
        )),
        dtype=np.int64,
    )  # fmt: skip
    keep = np.isin(cached.ids, ids)
    last = int(cached.ids[keep][-1]) if keep.any() else -1
    tenant = _load(generation, _rows(conn, tenant_id, after=last), cached, keep)
    if np.array_equal(tenant.ids, ids):
        return tenant
    return _load(generation, _rows(conn, tenant_id, after=-1))  # written meanwhile


def _rows(conn: sqlite3.Connection, tenant_id: str, *, after: int) -> list[_Row]:
    return conn.execute(
        "SELECT id, heading, text, embedding FROM kb_chunks WHERE tenant_id = ? AND id > ? "
        "ORDER BY id",
        (tenant_id, after),
    ).fetchall()


def _load(
    generation: int,
    rows: list[_Row],
    base: _Tenant | None = None,
    keep: npt.NDArray[np.bool_] | None = None,
) -> _Tenant:
    """`rows` after `base`'s rows where `keep` is True (all of `rows` without a base)."""
    width = base.rows.shape[1] if base is not None else len(rows[0][3]) // 4 if rows else 0
    if any(len(r[3]) != 4 * width for r in rows):
        raise KnowledgeIndexError(
            "stored vectors are damaged (they differ in size); "
            "`keel kb rebuild` removes the damaged documents so the next ingest redoes them"
        )
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    blob = b"".join(r[3] for r in rows)
    vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), width)
    texts = ((r[1], r[2]) for r in rows)
    if base is None or keep is None:
        terms = TermIndex.build(texts)
    else:
        ids = np.concatenate([base.ids[keep], ids])
        vectors = np.concatenate([base.rows[keep], vectors])
        terms = base.terms.extended(keep, texts)
    centre = vectors.mean(axis=0) if len(ids) else np.zeros(width, dtype=np.float32)
    return _Tenant(generation, ids, vectors, terms, centre, _sign_bits(vectors - centre))


def _coarse(tenant: _Tenant, query: Vectors, count: int) -> npt.NDArray[np.int64]:
    """Row positions of the `count` rows whose sign bits differ least from the query's."""
    if count >= len(tenant.ids):
        return np.arange(len(tenant.ids), dtype=np.int64)
    code = _sign_bits((query - tenant.centre)[None, :])
    distance = np.bitwise_count(tenant.signs ^ code).sum(axis=1, dtype=np.uint32)
    return np.argpartition(distance, count)[:count].astype(np.int64)


def _sign_bits(matrix: Vectors) -> npt.NDArray[np.uint64]:
    """One bit per dimension (set where positive), packed into 64-bit words per row."""
    packed = np.packbits(matrix > 0, axis=1)
    pad = -packed.shape[1] % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


def _delete(conn: sqlite3.Connection, tenant_id: str, document: str) -> bool:
    conn.execute("DELETE FROM kb_chunks WHERE tenant_id = ? AND path = ?", (tenant_id, document))
    return (
        conn.execute(
            "DELETE FROM kb_documents WHERE tenant_id = ? AND path = ?", (tenant_id, document)
        ).rowcount
        > 0
    )


def _generation(conn: sqlite3.Connection, tenant_id: str) -> int:
    row = conn.execute("SELECT generation FROM kb_state WHERE tenant_id = ?", (tenant_id,))
    found = row.fetchone()
    return int(found[0]) if found else 0


def _claim(conn: sqlite3.Connection, tenant_id: str, embedder: str) -> None:
    """Record `embedder` for the tenant, unless it holds chunks of another (an error)."""
    row = conn.execute("SELECT embedder FROM kb_embedders WHERE tenant_id = ?", (tenant_id,))
    recorded = row.fetchone()
    if recorded is None or recorded[0] == embedder:
        if recorded is None:
            _record(conn, tenant_id, embedder)
        return
    if conn.execute(
        "SELECT 1 FROM kb_documents WHERE tenant_id = ? LIMIT 1", (tenant_id,)
    ).fetchone():
        raise EmbedderMismatchError(tenant_id, str(recorded[0]), embedder)
    _record(conn, tenant_id, embedder)  # nothing stored any more: the tenant starts afresh


def _record(conn: sqlite3.Connection, tenant_id: str, embedder: str) -> None:
    conn.execute(
        "INSERT INTO kb_embedders (tenant_id, embedder) VALUES (?, ?) "
        "ON CONFLICT(tenant_id) DO UPDATE SET embedder = excluded.embedder",
        (tenant_id, embedder),
    )


def _bump(conn: sqlite3.Connection, tenant_id: str) -> None:
    conn.execute(
        "INSERT INTO kb_state (tenant_id, generation) VALUES (?, 1) "
        "ON CONFLICT(tenant_id) DO UPDATE SET generation = generation + 1",
        (tenant_id,),
    )
