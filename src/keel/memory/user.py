"""User memory: facts and preferences about a user that outlive a conversation.

Each fact records where it came from (session, run, message), when, and optionally when
it expires. A fact saved with the `key` of an active one supersedes it: the old one stays,
marked with its successor, so the history of "what we knew when" is kept; without a key,
a new fact nearly identical to an active one (cosine >= `same_fact`) supersedes that.
`recall` picks active, unexpired facts by similarity to the query blended with recency,
and packs them into a token budget. Everything is scoped by tenant and user.

`FactMemory` holds all of that once; a backend supplies only how to read rows and run
a few writes in one transaction, with SQL written once (`?` placeholders, which the
PostgreSQL backend turns into `%s`). `UserMemory` keeps facts in the app's SQLite
database, `PostgresUserMemory` (keel.memory.postgres) in PostgreSQL. A user has tens of
facts, not millions, so similarity is a numpy product over that user's active facts on
either backend (no vector index, so no pgvector needed in the app's database).
"""

from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from keel.embeddings.base import Embedder
from keel.exceptions import ConfigurationError
from keel.principal import Principal
from keel.storage.sqlite import SQLiteDatabase

__all__ = ["Fact", "FactKind", "FactMemory", "Provenance", "UserMemory"]

FactKind = Literal["fact", "preference"]
_COLUMNS = (
    "id, tenant_id, user_id, kind, fact_key, text, session_id, run_id, message, "
    "created_at, expires_at, superseded_by, superseded_at"
)
_MARKS = ",".join("?" * 14)


@dataclass(frozen=True, slots=True)
class Provenance:
    session_id: str | None = None
    run_id: str | None = None
    message: int | None = None
    """Index of the message in the session the fact was taken from."""


@dataclass(frozen=True, slots=True)
class Fact:
    id: str
    tenant_id: str
    user_id: str
    kind: FactKind
    key: str | None
    text: str
    source: Provenance
    created_at: float
    expires_at: float | None = None
    superseded_by: str | None = None
    superseded_at: float | None = None


Write = tuple[str, Sequence[object]]
"""One statement (`?` placeholders) and its parameters."""


class FactMemory(ABC):
    """User memory over a table `memory_facts`; subclasses say how to reach it."""

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        clock: Callable[[], float] = time.time,
        same_fact: float = 0.92,
        half_life_days: float = 30.0,
    ) -> None:
        self._embedder = embedder
        self.clock = clock
        self.same_fact = same_fact
        self.half_life_s = half_life_days * 86_400

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from keel.embeddings import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def remember(
        self,
        principal: Principal,
        text: str,
        *,
        key: str | None = None,
        kind: FactKind = "fact",
        ttl_s: float | None = None,
        source: Provenance = Provenance(),
    ) -> Fact:
        user = _user(principal)
        if not text.strip():
            raise ConfigurationError("a fact needs text")
        if ttl_s is not None and ttl_s <= 0:
            raise ConfigurationError(f"ttl_s must be positive, got {ttl_s}")
        vector = self.embedder.embed([text])[0]
        now = self.clock()
        fact = Fact(
            os.urandom(12).hex(),
            principal.tenant_id,
            user,
            kind,
            key,
            text.strip(),
            source,
            now,
            None if ttl_s is None else now + ttl_s,
        )
        old = self._superseded(fact, vector)
        writes: list[Write] = [
            (f"INSERT INTO memory_facts ({_COLUMNS}, embedding) VALUES ({_MARKS})",
             (*_row(fact), vector.astype(np.float32).tobytes())),
        ]  # fmt: skip
        if old:
            marks = ",".join("?" * len(old))
            writes.insert(0, (f"UPDATE memory_facts SET superseded_by = ?, superseded_at = ? "
                              f"WHERE id IN ({marks})", (fact.id, now, *old)))  # fmt: skip
        self._write(writes)
        return fact

    @abstractmethod
    def _read(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        """The rows of one query."""

    @abstractmethod
    def _write(self, writes: Sequence[Write]) -> list[int]:
        """Run the statements in one transaction; rows each changed."""

    def _superseded(self, fact: Fact, vector: np.ndarray) -> list[str]:
        active = self._active_rows(fact.tenant_id, fact.user_id, fact.created_at)
        if fact.key is not None:
            return [f.id for f, _ in active if f.key == fact.key]
        return [f.id for f, v in active if f.key is None and float(v @ vector) >= self.same_fact]

    def _active_rows(
        self, tenant_id: str, user_id: str, now: float
    ) -> list[tuple[Fact, np.ndarray]]:
        rows = self._read(
            f"SELECT {_COLUMNS}, embedding FROM memory_facts WHERE tenant_id = ? AND "
            "user_id = ? AND superseded_by IS NULL AND (expires_at IS NULL OR expires_at > ?)",
            (tenant_id, user_id, now),
        )
        return [(_fact(r[:-1]), _vector(r[-1])) for r in rows]

    def facts(self, principal: Principal, *, include_history: bool = False) -> list[Fact]:
        """The user's facts, oldest first: active ones, or every one ever saved."""
        user = _user(principal)
        if not include_history:
            active = self._active_rows(principal.tenant_id, user, self.clock())
            return sorted((f for f, _ in active), key=lambda f: f.created_at)
        rows = self._read(
            f"SELECT {_COLUMNS} FROM memory_facts WHERE tenant_id = ? AND user_id = ? "
            "ORDER BY created_at, id",
            (principal.tenant_id, user),
        )
        return [_fact(r) for r in rows]

    def recall(
        self, principal: Principal, query: str, *, budget_tokens: int = 200, k: int = 10
    ) -> list[Fact]:
        """Active facts most relevant to `query` (similarity 0.8, recency 0.2), best
        first, as many as fit `budget_tokens` (about four characters a token)."""
        now = self.clock()
        active = self._active_rows(principal.tenant_id, _user(principal), now)
        if not active or not query.strip():
            return []
        q = self.embedder.embed([query])[0]
        scored = sorted(
            active, key=lambda fv: -(0.8 * float(fv[1] @ q) + 0.2 * self._recency(fv[0], now))
        )
        chosen: list[Fact] = []
        used = 0
        for fact, _ in scored[:k]:
            cost = 4 + len(fact.text) // 4
            if used + cost > budget_tokens:
                continue
            chosen.append(fact)
            used += cost
        return chosen

    def _recency(self, fact: Fact, now: float) -> float:
        return math.exp(-max(now - fact.created_at, 0.0) * math.log(2) / self.half_life_s)

    def forget(self, principal: Principal, fact_id: str) -> bool:
        sql = "DELETE FROM memory_facts WHERE tenant_id = ? AND user_id = ? AND id = ?"
        return self._write([(sql, (principal.tenant_id, _user(principal), fact_id))])[0] > 0

    def purge_expired(self) -> int:
        """Delete facts whose time is up (history of superseded ones stays)."""
        sql = "DELETE FROM memory_facts WHERE expires_at IS NOT NULL AND expires_at <= ?"
        return self._write([(sql, (self.clock(),))])[0]


class UserMemory(FactMemory):
    """Facts in the app's SQLite database (`memory_facts`)."""

    def __init__(
        self,
        database: SQLiteDatabase,
        embedder: Embedder | None = None,
        *,
        clock: Callable[[], float] = time.time,
        same_fact: float = 0.92,
        half_life_days: float = 30.0,
    ) -> None:
        super().__init__(embedder, clock=clock, same_fact=same_fact, half_life_days=half_life_days)
        self.db = database

    def _read(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        with self.db.reading() as conn:
            return conn.execute(sql, params).fetchall()

    def _write(self, writes: Sequence[Write]) -> list[int]:
        with self.db.transaction() as conn:
            return [conn.execute(sql, params).rowcount for sql, params in writes]


def _vector(blob: object) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)  # type: ignore[call-overload]


def _user(principal: Principal) -> str:
    if principal.user_id is None:
        raise ConfigurationError("user memory needs a principal with a user_id")
    return principal.user_id


def _row(fact: Fact) -> tuple[object, ...]:
    source = fact.source
    return (
        fact.id, fact.tenant_id, fact.user_id, fact.kind, fact.key, fact.text,
        source.session_id, source.run_id, source.message, fact.created_at, fact.expires_at,
        fact.superseded_by, fact.superseded_at,
    )  # fmt: skip


def _fact(row: Sequence[object]) -> Fact:
    (id_, tenant, user, kind, key, text, session, run, message, created, expires, by, at) = row
    return Fact(
        str(id_), str(tenant), str(user), kind, key, str(text),  # type: ignore[arg-type]
        Provenance(session, run, message), float(created), expires, by, at,  # type: ignore[arg-type]
    )  # fmt: skip
