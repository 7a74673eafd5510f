"""`PostgresRunStore`: durable runs any process can claim, decide or resume.

The same rules as `SQLiteRunStore`, with row locks (`SELECT … FOR UPDATE`) where SQLite
takes its database-wide write lock, and a per-session advisory lock around starting or
claiming a run, so "one running run per session" holds across processes. A run whose
session lives in the same database completes in one transaction with its turn.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

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
from keel.storage.postgres import Conn, PostgresDatabase, session_lock
from keel.storage.postgres_sessions import PostgresSessionStore, append_turn
from keel.storage.sqlite_sessions import Turn

__all__ = ["PostgresRunStore"]

_INSERT = (
    "INSERT INTO runs (tenant_id, id, user_id, session_id, agent_name, parent_run_id, status, "
    "owner, lease_until, state, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


class PostgresRunStore:
    """Runs in PostgreSQL. Pass a URL or the `PostgresDatabase` the session store uses."""

    def __init__(self, database: str | PostgresDatabase) -> None:
        self.db = database if isinstance(database, PostgresDatabase) else PostgresDatabase(database)

    async def start(self, state: RunState) -> None:
        data = encode_state(state)
        owner, until = lease()
        p = state.principal
        async with self.db.transaction() as conn:
            await _check_session_free(conn, state)
            if await _row(conn, p.tenant_id, state.run_id, lock=False) is not None:
                raise RunConflictError(f"a run with id {state.run_id!r} already exists")
            row = (p.tenant_id, state.run_id, p.user_id, state.session_id, state.agent_name)
            await conn.execute(
                _INSERT + " ON CONFLICT DO NOTHING",
                (
                    *row,
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
        async with self.db.transaction() as conn:
            await _write(conn, state, owner, until)

    async def complete(self, state: RunState, sessions: SessionStore | None) -> None:
        turn = _turn_here(self.db, sessions, state)
        if turn is None:
            await self.checkpoint(state)
            await save_turn(sessions, state)
            return
        async with self.db.transaction() as conn:
            await _write(conn, state, owner=None, until=None)
            appended = await append_turn(conn, turn)
        assert isinstance(sessions, PostgresSessionStore)  # _turn_here checked it
        await sessions.written(appended)

    async def load(self, run_id: str, *, tenant_id: str = DEFAULT_TENANT) -> RunState:
        async with self.db.transaction() as conn:
            row = await _row(conn, tenant_id, run_id, lock=False)
        if row is None:
            raise RunNotFoundError(run_id)
        return decode_state(row[0], run_id)

    async def decide(
        self, run_id: str, records: Sequence[DecisionRecord], *, tenant_id: str = DEFAULT_TENANT
    ) -> RunState:
        async with self.db.transaction() as conn:
            state = (await _locked_state(conn, tenant_id, run_id))[0]
            check_decisions(state, records)
            state.decisions.extend(records)
            await _write(conn, state, owner=None, until=None)
        return state

    async def claim(self, run_id: str, *, tenant_id: str = DEFAULT_TENANT) -> RunState:
        async with self.db.transaction() as conn:
            state, owner, until = await _locked_state(conn, tenant_id, run_id)
            check_claimable(state, owner, until)
            await _check_session_free(conn, state)
            state.status = "running"
            await _write(conn, state, *lease())
        return state

    async def list_runs(
        self,
        *,
        tenant_id: str = DEFAULT_TENANT,
        status: RunStatus | None = None,
        session_id: str | None = None,
        limit: int = 50,
    ) -> list[RunState]:
        sql, params = list_runs_query("%s", tenant_id, status, session_id, limit)
        async with self.db.transaction() as conn:
            cursor = await conn.execute(sql, params)
            rows = await cursor.fetchall()
        return [decode_state(data, run_id) for run_id, data in rows]


def _turn_here(db: PostgresDatabase, sessions: SessionStore | None, state: RunState) -> Turn | None:
    if state.session_id is None or not isinstance(sessions, PostgresSessionStore):
        return None
    if sessions.db is not db:
        return None
    p = state.principal
    return Turn.of(
        state.session_id,
        state.new_messages,
        tenant_id=p.tenant_id,
        user_id=p.user_id,
        run_id=state.run_id,
    )


async def _row(
    conn: Conn, tenant_id: str, run_id: str, *, lock: bool
) -> tuple[str, str | None, float | None] | None:
    sql = "SELECT state, owner, lease_until FROM runs WHERE tenant_id = %s AND id = %s"
    cursor = await conn.execute(sql + (" FOR UPDATE" if lock else ""), (tenant_id, run_id))
    return await cursor.fetchone()


async def _locked_state(
    conn: Conn, tenant_id: str, run_id: str
) -> tuple[RunState, str | None, float | None]:
    row = await _row(conn, tenant_id, run_id, lock=True)
    if row is None:
        raise RunNotFoundError(run_id)
    return decode_state(row[0], run_id), row[1], row[2]


async def _write(conn: Conn, state: RunState, owner: str | None, until: float | None) -> None:
    state.updated_at = time.time()
    await conn.execute(
        "UPDATE runs SET status = %s, owner = %s, lease_until = %s, state = %s, "
        "updated_at = %s WHERE tenant_id = %s AND id = %s",
        (
            state.status,
            owner,
            until,
            encode_state(state),
            state.updated_at,
            state.principal.tenant_id,
            state.run_id,
        ),
    )


async def _check_session_free(conn: Conn, state: RunState) -> None:
    if state.session_id is None:
        return
    tenant = state.principal.tenant_id
    await session_lock(conn, tenant, state.session_id)
    cursor = await conn.execute(
        "SELECT id, owner, lease_until FROM runs WHERE tenant_id = %s AND session_id = %s "
        "AND status = 'running' AND id != %s",
        (tenant, state.session_id, state.run_id),
    )
    now = time.time()
    for run_id, owner, until in await cursor.fetchall():
        if owner_alive(owner, until, now):
            raise SessionBusyError(state.session_id, run_id)
