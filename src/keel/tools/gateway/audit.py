"""The audit chain: one entry per tool call that reached the gateway, hash-chained.

Each entry's hash is SHA-256 (HMAC-SHA-256 with a key, when `KEEL_AUDIT_KEY` or `key=`
is set) over its fields and the previous entry's hash, and the newest hash is kept in
an anchor row written in the same transaction. `verify` recomputes the chain: a changed
field, a deleted or inserted row, or a cut-off tail is found and named. Without a key,
someone who can write the database could rebuild the whole chain; with one, they also
need the key. SQLite triggers refuse UPDATE and DELETE on the table, so the chain is
changed only by someone who drops them on purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from pydantic_core import to_json

__all__ = [
    "COLUMNS",
    "GENESIS",
    "AuditEntry",
    "AuditProblem",
    "Row",
    "StoredEntry",
    "audit_key",
    "chain_hash",
    "verify_chain",
]

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """Who (user, tenant, roles) through which agent called which tool, with what
    (redacted) arguments, what came back (a summary), how long it took, what the gateway
    decided and why, and who approved it."""

    at: float
    tenant_id: str
    user_id: str | None
    roles: str
    agent: str | None
    run_id: str | None
    call_id: str | None
    tool: str
    arguments: str
    result: str
    is_error: bool
    latency_ms: float
    decision: str
    reason: str = ""
    approver: str | None = None


COLUMNS = tuple(f.name for f in fields(AuditEntry))
ARGUMENTS_AT, RESULT_AT = COLUMNS.index("arguments"), COLUMNS.index("result")
ROLES_AT = COLUMNS.index("roles")

Row = tuple[Any, ...]
"""An entry's fields in `COLUMNS` order (what is hashed), or a stored row around them."""
Head = tuple[int, str]
"""The newest entry's seq and hash (`(0, GENESIS)` for an empty chain)."""


def values(entry: AuditEntry) -> Row:
    """The fields in column order (`dataclasses.astuple` deep-copies: ~20x slower)."""
    return tuple(getattr(entry, name) for name in COLUMNS)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self.entry, name) for name in COLUMNS}
        return {"seq": self.seq, **data, "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class AuditProblem:
    seq: int | None
    problem: str

    def __str__(self) -> str:
        where = "audit log" if self.seq is None else f"entry {self.seq}"
        return f"{where}: {self.problem}"


def audit_key() -> bytes | None:
    raw = os.environ.get("KEEL_AUDIT_KEY")
    return raw.encode() if raw else None


def chain_hash(prev_hash: str, entry: AuditEntry, key: bytes | None, row: Row | None = None) -> str:
    return row_hash(prev_hash, row if row is not None else values(entry), key)


def row_hash(prev_hash: str, row: Row, key: bytes | None) -> str:
    """The chain hash over an entry's fields (`values`) and the previous hash."""
    payload = prev_hash.encode() + to_json(row)
    if key is None:
        return hashlib.sha256(payload).hexdigest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def entry_from_row(row: tuple[Any, ...]) -> StoredEntry:
    """A row of `seq, *COLUMNS, prev_hash, hash`."""
    values = dict(zip(COLUMNS, row[1 : 1 + len(COLUMNS)], strict=True))
    values["is_error"] = bool(values["is_error"])
    return StoredEntry(int(row[0]), AuditEntry(**values), str(row[-2]), str(row[-1]))


def verify_chain(
    entries: Iterable[StoredEntry], head: tuple[int, str] | None, key: bytes | None
) -> tuple[int, list[AuditProblem]]:
    """How many entries were checked, and every problem found (empty: intact)."""
    problems: list[AuditProblem] = []
    prev_seq, prev_hash, count = 0, GENESIS, 0
    for stored in entries:
        count += 1
        if stored.seq != prev_seq + 1:
            problems.append(AuditProblem(stored.seq, _gap(prev_seq + 1, stored.seq - 1)))
        if stored.prev_hash != prev_hash:
            problems.append(AuditProblem(stored.seq, "does not link to the entry before it"))
        if chain_hash(stored.prev_hash, stored.entry, key) != stored.hash:
            problems.append(AuditProblem(stored.seq, "its fields were changed after writing"))
        prev_seq, prev_hash = stored.seq, stored.hash
    problems.extend(_check_head(head, prev_seq, prev_hash))
    return count, problems


def _gap(first: int, last: int) -> str:
    if first == last:
        return f"the entry before it ({first}) is missing (deleted)"
    if first > last:
        return f"its number repeats or goes back (after {first - 1})"
    return f"the entries before it ({first}-{last}) are missing (deleted)"


def _check_head(head: tuple[int, str] | None, seq: int, last_hash: str) -> list[AuditProblem]:
    if head is None:
        return [] if seq == 0 else [AuditProblem(None, "the anchor row is missing")]
    head_seq, head_hash = head
    if head_seq != seq:
        return [AuditProblem(None, f"the newest entry should be {head_seq}, found {seq} (cut)")]
    if head_hash != last_hash:
        return [AuditProblem(None, "the newest entry does not match the anchor")]
    return []


def read_head(conn: sqlite3.Connection) -> Head:
    row = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def chain_rows(rows: Iterable[Row], head: Head, key: bytes | None) -> list[Row]:
    """`audit_log` rows (`seq, *COLUMNS, prev_hash, hash`) for entries' fields (`values`),
    continuing the chain at `head`. Pure: computed before the write lock is taken, and
    again under it only if another process appended meanwhile."""
    seq, prev = head
    stored: list[Row] = []
    for row in rows:
        digest = row_hash(prev, row, key)
        seq += 1
        stored.append((seq, *row, prev, digest))
        prev = digest
    return stored


def append_rows(conn: sqlite3.Connection, rows: Sequence[Row]) -> Head:
    """Append rows from `chain_rows` inside the caller's write transaction (whose head
    they continue) and move the anchor; returns the new head."""
    if not rows:
        return read_head(conn)
    conn.executemany(_INSERT, rows)
    head = (int(rows[-1][0]), str(rows[-1][-1]))
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        head,
    )
    return head


_INSERT = (
    f"INSERT INTO audit_log (seq, {', '.join(COLUMNS)}, prev_hash, hash) "
    f"VALUES ({', '.join('?' * (len(COLUMNS) + 3))})"
)
