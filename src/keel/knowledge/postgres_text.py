"""BM25 for `PostgresKnowledgeStore`, scored inside PostgreSQL over a few candidates.

Why hand-written: PostgreSQL's `ts_rank` has no inverse document frequency (a common
word counts as much as a part number), and ranking every row an OR query matches reads
each one's `tsvector` (natural-language queries match a third of a 100k-chunk store:
~100 ms just to visit them). So each word's document frequency is kept in `kb_terms`
by statement triggers on `kb_chunks` (one grouped upsert per write, PostgreSQL's own
tokens, so nothing can drift), and a query:

1. looks up its words' frequencies (the primary key, a few rows);
2. takes candidates only among chunks holding its rarest words (the smallest prefix by
   frequency that reaches `LEAD_ROWS` chunks; at least the rarest word), the best
   `CANDIDATES` of them by `ts_rank` against the whole query, through the GIN index;
3. scores those with Okapi BM25 (k1 1.2, b 0.75, heading words twice, the corpus IDF
   `log(1 + (N - n + 0.5) / (n + 0.5))`, lengths in distinct words against the
   candidates' average) in one SQL statement.

Chunks holding none of the rarest words are never scored: a common-word-only match is
missed when enough chunks hold the rare words, which is where BM25 ranks it low anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["RECOUNT", "SCHEMA_LOCK", "TENANT_LOCK", "TERMS_FUNCTION", "TERMS_SCHEMA", "text_search"]

LEAD_ROWS = 2_000
CANDIDATES = 100

SCHEMA_LOCK = (27490, 0)
"""Advisory lock (class, key) held while a store creates or replaces its tables, function
and triggers: two processes opening stores at once would otherwise collide ("tuple
concurrently updated")."""
TENANT_LOCK = 27491
"""Advisory lock class of a tenant's writes, keyed by `hashtext(tenant_id)`: see
`_COUNT_CHANGE`."""

_COUNT_CHANGE = f"""
CREATE OR REPLACE FUNCTION kb_terms_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE direction integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
  PERFORM pg_advisory_xact_lock({TENANT_LOCK}, hashtext(d.tenant_id))
  FROM (SELECT DISTINCT tenant_id FROM changed ORDER BY 1) d;
  INSERT INTO kb_terms AS t (tenant_id, lexeme, chunks)
  SELECT c.tenant_id, u.lexeme, direction * count(*) FROM changed c, unnest(c.tsv) u
  GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (tenant_id, lexeme) DO UPDATE SET chunks = t.chunks + excluded.chunks;
  IF direction < 0 THEN
    DELETE FROM kb_terms t
    USING (SELECT DISTINCT c.tenant_id, u.lexeme FROM changed c, unnest(c.tsv) u) d
    WHERE t.tenant_id = d.tenant_id AND t.lexeme = d.lexeme AND t.chunks <= 0;
  END IF;
  RETURN NULL;
END $$"""
"""Counts move in one upsert per statement, in (tenant, word) order, after the writer
takes its tenants' advisory locks (in name order): a transaction writes chunks in
several statements (one per chunk, a delete then inserts), each locking its words' rows,
so two writers of a tenant sharing words would lock them in crossing orders and
deadlock. Holding the tenant's lock to commit makes them take turns; the store takes it
first thing in each write (`PostgresKnowledgeStore._write`), the trigger again for
anyone writing `kb_chunks` by hand. Zero counts are removed for the words touched only
(not a scan of every tenant's words)."""

TERMS_FUNCTION = _COUNT_CHANGE.split("$$")[1]
"""The trigger function's body as PostgreSQL keeps it (`pg_proc.prosrc`): a store opened
on a database holding another version replaces it."""

TERMS_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS kb_terms (tenant_id text NOT NULL, lexeme text NOT NULL, "
    "chunks integer NOT NULL, PRIMARY KEY (tenant_id, lexeme))",
    _COUNT_CHANGE,
    "CREATE OR REPLACE TRIGGER kb_terms_add AFTER INSERT ON kb_chunks REFERENCING NEW "
    "TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION kb_terms_count()",
    "CREATE OR REPLACE TRIGGER kb_terms_remove AFTER DELETE ON kb_chunks REFERENCING OLD "
    "TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION kb_terms_count()",
]
"""Created with the store's tables; `RECOUNT` fills `kb_terms` for chunks stored before."""

RECOUNT = [
    "LOCK TABLE kb_chunks IN SHARE MODE",  # writers wait, so none moves a count meanwhile
    "DELETE FROM kb_terms",
    "INSERT INTO kb_terms (tenant_id, lexeme, chunks) SELECT c.tenant_id, u.lexeme, "
    "count(*) FROM kb_chunks c, unnest(c.tsv) u GROUP BY 1, 2",
]

_SCORE = """
SELECT c.id, sum(q.idf * t.tf * 2.2 / (t.tf + 1.2 * (0.25 + 0.75 * c.len / c.avg_len)))
FROM (SELECT id, tsv, len, avg(len) OVER () AS avg_len FROM (
        SELECT id, tsv, length(tsv) AS len FROM kb_chunks
        WHERE tenant_id = %(tenant)s AND tsv @@ to_tsquery('simple', %(lead)s)
        ORDER BY ts_rank(tsv, to_tsquery('simple', %(all)s)) DESC, id LIMIT %(candidates)s
      ) best) c
CROSS JOIN LATERAL (
  SELECT u.lexeme, sum(CASE WHEN w = 'A' THEN 2 ELSE 1 END) AS tf
  FROM unnest(c.tsv) u, unnest(u.weights) w WHERE u.lexeme = ANY(%(terms)s)
  GROUP BY u.lexeme) t
JOIN unnest(%(terms)s::text[], %(idf)s::float8[]) AS q(lexeme, idf) ON q.lexeme = t.lexeme
GROUP BY c.id ORDER BY 2 DESC, c.id LIMIT %(k)s"""

Query = Callable[[str, Any], list[tuple[Any, ...]]]


def text_search(
    run: Query, tenant_id: str, terms: Sequence[str], total: int, k: int
) -> list[tuple[int, float]]:
    """The k best chunks by BM25 among the candidates; `total` is the tenant's chunks."""
    terms = list(dict.fromkeys(t.replace("'", "").replace("\\", "") for t in terms))
    terms = [t for t in terms if t]
    frequency = _frequencies(run, tenant_id, terms)
    present = sorted((t for t in terms if t in frequency), key=lambda t: (frequency[t], t))
    if not present:
        return []
    idf = [
        math.log(1 + (max(total, n) - n + 0.5) / (n + 0.5)) for n in (frequency[t] for t in present)
    ]
    rows = run(_SCORE, {
        "tenant": tenant_id, "lead": _any(_lead(present, frequency)), "all": _any(present),
        "terms": present, "idf": idf, "candidates": CANDIDATES, "k": k,
    })  # fmt: skip
    return [(int(i), float(s)) for i, s in rows]


def _frequencies(run: Query, tenant_id: str, terms: list[str]) -> dict[str, int]:
    rows = run(
        "SELECT lexeme, chunks FROM kb_terms WHERE tenant_id = %s AND lexeme = ANY(%s)",
        (tenant_id, terms),
    )
    return {str(t): int(n) for t, n in rows}


def _lead(terms: list[str], frequency: dict[str, int]) -> list[str]:
    """The rarest words, up to the first whose chunks together reach `LEAD_ROWS`."""
    lead: list[str] = []
    rows = 0
    for term in terms:
        lead.append(term)
        rows += frequency[term]
        if rows >= LEAD_ROWS:
            break
    return lead


def _any(terms: list[str]) -> str:
    return " | ".join(f"'{t}'" for t in terms)
