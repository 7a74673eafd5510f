"""Where the gateway keeps its ledger and audit chain: the app's SQLite database.

Per call with side effects: one write transaction to claim the ledger row before the
tool runs (always synchronous), then one to finish it *and* append the audit entry
together — by default written behind, in batches (see `keel.tools.gateway.writer`;
`write_behind=False` commits each settle before the call returns). A call with no side
effect (read-only tool, denial, bad arguments) costs the audit write alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from keel.storage.sqlite import SQLiteDatabase
from keel.tools.gateway.audit import (
    AuditEntry,
    AuditProblem,
    Head,
    Row,
    StoredEntry,
    append_rows,
    audit_key,
    chain_rows,
    entry_from_row,
    read_head,
    values,
    verify_chain,
)
from keel.tools.gateway.writer import WriteBehind

__all__ = ["AuditReport", "GatewayStore", "LedgerEntry", "LedgerResult"]

LedgerStatus = Literal["started", "finished"]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    key: str
    tool: str
    status: LedgerStatus
    owner: str
    content: str | None
    is_error: bool


@dataclass(frozen=True, slots=True)
class LedgerResult:
    key: str
    content: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class AuditReport:
    checked: int
    problems: list[AuditProblem]

    @property
    def ok(self) -> bool:
        return not self.problems


_CLAIM = (
    "INSERT INTO tool_ledger (key, tool, status, owner, started_at) "
    "VALUES (?, ?, 'started', ?, ?) ON CONFLICT (key) DO NOTHING"
)
"""The claim: one autocommit statement, durable (WAL) before the tool runs."""
_FINISH = (
    "UPDATE tool_ledger SET status = 'finished', content = ?, is_error = ?, finished_at = ? "
    "WHERE key = ?"
)
_SELECT_ENTRY = "SELECT key, tool, status, owner, content, is_error FROM tool_ledger WHERE key = ?"

_Settle = tuple[Row, "LedgerResult | None", Callable[[Row], Row] | None]


class GatewayStore:
    """The ledger and the audit chain on one database (a path, `:memory:`, or an open
    `SQLiteDatabase` such as the app's). `key` signs the chain (default `KEEL_AUDIT_KEY`)."""

    def __init__(
        self,
        database: str | Path | SQLiteDatabase,
        *,
        key: bytes | None = None,
        write_behind: bool = True,
    ) -> None:
        self.db = database if isinstance(database, SQLiteDatabase) else SQLiteDatabase(database)
        self.key = key if key is not None else audit_key()
        self._writer = WriteBehind(self._write_batch) if write_behind else None
        self._unflushed: dict[str, LedgerResult] = {}
        self._head: Head | None = None
        """The chain's head as this store last wrote it (None: not known yet)."""

    # -- ledger ---------------------------------------------------------------------

    def claim(self, key: str, tool: str, owner: str) -> LedgerEntry | None:
        """Start the call under `key`: None if this caller now owns it, else the entry
        that was there (finished: its result stands; started: someone else has it)."""
        done = self._unflushed.get(key)
        if done is not None:
            return LedgerEntry(key, tool, "finished", owner, done.content, done.is_error)
        inserted = self.db.write(_CLAIM, (key, tool, owner, time.time()))
        if inserted:
            return None
        with self.db.reading() as conn:
            row = conn.execute(_SELECT_ENTRY, (key,)).fetchone()
        return LedgerEntry(row[0], row[1], row[2], row[3], row[4], bool(row[5]))

    def take_over(self, key: str, owner: str, was: str) -> bool:
        """Own a started call whose owner died; False if someone else took it first."""
        with self.db.transaction() as conn:
            changed = conn.execute(
                "UPDATE tool_ledger SET owner = ?, started_at = ? "
                "WHERE key = ? AND owner = ? AND status = 'started'",
                (owner, time.time(), key, was),
            ).rowcount
        return bool(changed)

    def ledger_entry(self, key: str) -> LedgerEntry | None:
        self.flush()
        with self.db.reading() as conn:
            row = conn.execute(_SELECT_ENTRY, (key,)).fetchone()
        if row is None:
            return None
        return LedgerEntry(row[0], row[1], row[2], row[3], row[4], bool(row[5]))

    # -- settle: finish the ledger row and append the audit entry, atomically ----------

    def settle(
        self,
        entry: AuditEntry | Row,
        result: LedgerResult | None = None,
        prepare: Callable[[Row], Row] | None = None,
    ) -> None:
        """Finish the ledger row (if any) and append the audit entry (an `AuditEntry`, or
        its `values`), atomically; `prepare` (redaction) is applied to the entry's values
        just before they are written."""
        row = values(entry) if isinstance(entry, AuditEntry) else entry
        if self._writer is None:
            self._write_batch([(row, result, prepare)])
            return
        if result is not None:
            self._unflushed[result.key] = result
        self._writer.put((row, result, prepare))

    def flush(self) -> None:
        """Write everything settled so far (reads call it; so does process exit)."""
        if self._writer is not None:
            self._writer.flush()

    def _write_batch(self, batch: Sequence[_Settle]) -> None:
        """Everything is redacted and hashed before the write lock is taken (the chain
        guessed on from the head this store wrote last), so the transaction — which the
        next claim waits for — is a read of the head and two `executemany`. Another
        process having appended meanwhile shows as a different head: the rows are then
        chained again under the lock."""
        entries = [prepare(row) if prepare else row for row, _, prepare in batch]
        now = time.time()
        finished = [(r.content, int(r.is_error), now, r.key) for _, r, _ in batch if r is not None]
        guess = self._head
        rows = chain_rows(entries, guess, self.key) if guess is not None else None
        # The same connection as claims: its lock hands over at once, where a second
        # connection would wait in SQLite's busy handler (sleeps of 1 ms and up).
        with self.db.transaction() as conn:
            head = read_head(conn)
            if rows is None or head != guess:
                rows = chain_rows(entries, head, self.key)
            self._head = append_rows(conn, rows)
            if finished:
                conn.executemany(_FINISH, finished)
        for key in (r.key for _, r, _ in batch if r is not None):
            self._unflushed.pop(key, None)

    # -- reading the chain ------------------------------------------------------------

    def entries(
        self, *, tenant_id: str | None = None, limit: int | None = None
    ) -> list[StoredEntry]:
        """Newest first; all tenants when `tenant_id` is None."""
        self.flush()
        where, params = ("WHERE tenant_id = ?", [tenant_id]) if tenant_id else ("", [])
        sql = f"SELECT * FROM audit_log {where} ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.db.reading() as conn:
            return [entry_from_row(tuple(r)) for r in conn.execute(sql, params).fetchall()]

    def verify(self) -> AuditReport:
        self.flush()
        with self.db.reading() as conn:
            head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
            rows = conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
        entries: Iterator[StoredEntry] = (entry_from_row(tuple(r)) for r in rows)
        anchor = None if head is None else (int(head[0]), str(head[1]))
        checked, problems = verify_chain(entries, anchor, self.key)
        return AuditReport(checked, problems)
