"""`SQLiteRunStore`: durable run states in the same database file as the sessions.

Each run is one row: indexed columns for listing and claiming, plus the whole state as
JSON. Claims and decisions happen inside one `BEGIN IMMEDIATE` transaction, which is
what makes "exactly one resumer wins" hold across processes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from keel.exceptions import RunConflictError, RunNotFoundError, SessionBusyError
from keel.memory.session import SessionStore
from keel.principal import DEFAULT_TENANT
from keel.runs.lease import owner_alive
from keel.runs.pending import DecisionRecord, RunStatus
from keel.runs.state import RunState, decode_state, encode_state
from keel.runs.store import (
    check_claimable,
    check_decisions,
    lease,
    list_runs_query,
    save_turn,
)
from keel.storage.sqlite import SQLiteDatabase
from keel.storage.sqlite_sessions import SQLiteSessionStore, Turn

__all__ = ["SQLiteRunStore"]

_COLUMNS = (
    "tenant_id, id, user_id, session_id, agent_name, parent_run_id, status, owner, "
    "lease_until, state, created_at, updated_at"
)


class SQLiteRunStore:
    """Runs in SQLite. Pass a path or the `SQLiteDatabase` the session store uses."""

    def __init__(self, database: str | Path | SQLiteDatabase) -> None:
        self.db = database if isinstance(database, SQLiteDatabase) else SQLiteDatabase(database)

    async def start(self, state: RunState) -> None:
        data = encode_state(state)  # before the transaction: an unstorable value fails here
        with self.db.transaction() as conn:
            if _row(conn, state.principal.tenant_id, state.run_id) is not None:
                raise RunConflictError(f"a run with id {state.run_id!r} already exists")
            _check_session_free(conn, state)
            owner, until = lease()
            conn.execute(
                f"INSERT INTO runs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    state.principal.tenant_id,
                    state.run_id,
                    state.principal.user_id,
                    state.session_id,
                    state.agent_name,
                    state.parent_run_id,
                    state.status,
                    owner,
                    until,
                    data,
                    state.created_at,
                    state.updated_at,
                ),
            )

    async def checkpoint(self, state: RunState) -> None:
        owner, until = lease() if state.status == "running" else (None, None)
        with self.db.transaction() as conn:
            _write(conn, state, owner, until)

    async def complete(self, state: RunState, sessions: SessionStore | None) -> None:
        turn = _turn_here(self.db, sessions, state)
        if turn is None:  # the session lives elsewhere (or nowhere): two steps
            await self.checkpoint(state)
            await save_turn(sessions, state)
            return
        with self.db.transaction() as conn:
            _write(conn, state, owner=None, until=None)
            turn.append(conn)

    async def load(self, run_id: str, *, tenant_id: str = DEFAULT_TENANT) -> RunState:
        with self.db.reading() as conn:
            row = _row(conn, tenant_id, run_id)
        if row is None:
            raise RunNotFoundError(run_id)
        return decode_state(row[0], run_id)

    async def decide(
        self, run_id: str, records: Sequence[DecisionRecord], *, tenant_id: str = DEFAULT_TENANT
    ) -> RunState:
        with self.db.transaction() as conn:
            state = _locked_state(conn, tenant_id, run_id)[0]
            check_decisions(state, records)
            state.decisions.extend(records)
            _write(conn, state, owner=None, until=None)
        return state

    async def claim(self, run_id: str, *, tenant_id: str = DEFAULT_TENANT) -> RunState:
        with self.db.transaction() as conn:
            state, owner, until = _locked_state(conn, tenant_id, run_id)
            check_claimable(state, owner, until)
            _check_session_free(conn, state)
            state.status = "running"
            _write(conn, state, *lease())
        return state

    async def list_runs(
        self,
        *,
        tenant_id: str = DEFAULT_TENANT,
        status: RunStatus | None = None,
        session_id: str | None = None,
        limit: int = 50,
    ) -> list[RunState]:
        sql, params = list_runs_query("?", tenant_id, status, session_id, limit)
        with self.db.reading() as conn:
            rows = conn.execute(sql, params)
            return [decode_state(data, run_id) for run_id, data in rows.fetchall()]

    def close(self) -> None:
        self.db.close()


def _turn_here(db: SQLiteDatabase, sessions: SessionStore | None, state: RunState) -> Turn | None:
    """The run's turn, when its session store writes to this same database."""
    if state.session_id is None or not isinstance(sessions, SQLiteSessionStore):
        return None
    if sessions.db is not db:
        return None
    return Turn.of(
        state.session_id,
        state.new_messages,
        tenant_id=state.principal.tenant_id,
        user_id=state.principal.user_id,
        run_id=state.run_id,
    )


def _row(conn: sqlite3.Connection, tenant_id: str, run_id: str) -> tuple[str, str, float] | None:
    return conn.execute(
        "SELECT state, owner, lease_until FROM runs WHERE tenant_id = ? AND id = ?",
        (tenant_id, run_id),
    ).fetchone()


def _locked_state(
    conn: sqlite3.Connection, tenant_id: str, run_id: str
) -> tuple[RunState, str | None, float | None]:
    row = _row(conn, tenant_id, run_id)
    if row is None:
        raise RunNotFoundError(run_id)
    return decode_state(row[0], run_id), row[1], row[2]


def _write(
    conn: sqlite3.Connection, state: RunState, owner: str | None, until: float | None
) -> None:
    state.updated_at = time.time()
    data = encode_state(state)
    key = (state.principal.tenant_id, state.run_id)
    conn.execute(
        "UPDATE runs SET status = ?, owner = ?, lease_until = ?, state = ?, updated_at = ? "
        "WHERE tenant_id = ? AND id = ?",
        (state.status, owner, until, data, state.updated_at, *key),
    )


def _check_session_free(conn: sqlite3.Connection, state: RunState) -> None:
    if state.session_id is None:
        return
    rows = conn.execute(
        "SELECT id, owner, lease_until FROM runs WHERE tenant_id = ? AND session_id = ? "
        "AND status = 'running' AND id != ?",
        (state.principal.tenant_id, state.session_id, state.run_id),
    ).fetchall()
    now = time.time()
    for run_id, owner, until in rows:
        if owner_alive(owner, until, now):
            raise SessionBusyError(state.session_id, run_id)
