"""`RunStore`: where run states live between steps, suspensions and processes.

The store owns the state: a resuming caller names a run and brings decisions, never a
state to be trusted. Every method is scoped by tenant. The rules every backend keeps:

- `start` records a new run as running, owned by this process; a session has at most one
  running run whose owner is alive (`SessionBusyError` otherwise);
- `decide` records decisions atomically, each pending action at most once;
- `claim` hands a run to exactly one caller: a suspended or needs-attention run whose
  pending actions are all decided, or a running one whose owner died.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import LiteralString, Protocol, runtime_checkable

from keel.exceptions import (
    DecisionError,
    RunConflictError,
    RunNotFoundError,
    SessionBusyError,
)
from keel.memory.session import SessionStore
from keel.principal import DEFAULT_TENANT
from keel.runs.lease import LEASE_SECONDS, owner_alive, this_owner
from keel.runs.pending import DecisionRecord, RunStatus
from keel.runs.state import RunState, decode_state, encode_state

__all__ = [
    "InMemoryRunStore",
    "RunStore",
    "check_claimable",
    "check_decisions",
    "list_runs_query",
    "save_turn",
]

FINAL: frozenset[RunStatus] = frozenset({"completed", "failed"})


@runtime_checkable
class RunStore(Protocol):
    async def start(self, state: RunState) -> None:
        """Record a new run; RunConflictError if the id exists, SessionBusyError if busy."""
        ...

    async def checkpoint(self, state: RunState) -> None:
        """Write the state as it is now and renew this process's lease on it."""
        ...

    async def complete(self, state: RunState, sessions: SessionStore | None) -> None:
        """Write the completed run and append its turn to its session (once): in one
        transaction where the backend can, so a run is completed iff its turn is stored."""
        ...

    async def load(self, run_id: str, *, tenant_id: str = DEFAULT_TENANT) -> RunState:
        """The stored state; RunNotFoundError if unknown in this tenant."""
        ...

    async def decide(
        self, run_id: str, records: Sequence[DecisionRecord], *, tenant_id: str = DEFAULT_TENANT
    ) -> RunState:
        """Record decisions on pending actions; DecisionError if one does not fit."""
        ...

    async def claim(self, run_id: str, *, tenant_id: str = DEFAULT_TENANT) -> RunState:
        """Take the run over to continue it; RunConflictError if it cannot be continued."""
        ...

    async def list_runs(
        self,
        *,
        tenant_id: str = DEFAULT_TENANT,
        status: RunStatus | None = None,
        session_id: str | None = None,
        limit: int = 50,
    ) -> list[RunState]:
        """Runs, most recently started first."""
        ...


async def save_turn(sessions: SessionStore | None, state: RunState) -> None:
    """Append the run's messages to its session, once: a repeat for the run is a no-op."""
    if state.session_id is None or sessions is None:
        return
    await sessions.append(
        state.session_id,
        state.new_messages,
        tenant_id=state.principal.tenant_id,
        user_id=state.principal.user_id,
        run_id=state.run_id,
    )


def check_decisions(state: RunState, records: Sequence[DecisionRecord]) -> None:
    """Every record names a pending action of this run that has no decision yet."""
    if state.status not in ("suspended", "needs_attention"):
        raise RunConflictError(
            f"run {state.run_id!r} is {state.status}, so it has nothing to decide"
        )
    pending = {p.id for p in state.pending}
    for record in records:
        if record.pending_id not in pending:
            raise DecisionError(
                f"run {state.run_id!r} has no pending action {record.pending_id!r}; "
                f"pending: {', '.join(sorted(pending)) or 'none'}"
            )
        earlier = state.decision_for(record.pending_id)
        if earlier is not None:
            raise DecisionError(
                f"pending action {record.pending_id!r} of run {state.run_id!r} was already "
                f"decided ({earlier.decision.kind}) by {earlier.decided_by.label}"
            )


def check_claimable(state: RunState, owner: str | None, lease_until: float | None) -> None:
    """Raise RunConflictError unless this process may continue the run now."""
    if state.status in FINAL:
        raise RunConflictError(f"run {state.run_id!r} is already {state.status}")
    if state.status == "running" and owner_alive(owner, lease_until, time.time()):
        raise RunConflictError(
            f"run {state.run_id!r} is running in another process ({owner}); "
            "it can be resumed only once that process has stopped"
        )
    if state.status != "running" and state.undecided:
        waiting = ", ".join(p.id for p in state.undecided)
        raise DecisionError(
            f"run {state.run_id!r} still waits on a decision for {waiting}; approve or "
            "reject each pending action before resuming"
        )


def list_runs_query(
    mark: LiteralString, tenant_id: str, status: str | None, session_id: str | None, limit: int
) -> tuple[LiteralString, tuple[object, ...]]:
    """The SQL (with the driver's placeholder `mark`) and parameters of `list_runs`,
    shared by the SQL stores: a tenant's runs, optionally of one status or session,
    newest first."""
    sql: LiteralString = f"SELECT id, state FROM runs WHERE tenant_id = {mark}"
    params: list[object] = [tenant_id]
    if status is not None:
        sql, params = f"{sql} AND status = {mark}", [*params, status]
    if session_id is not None:
        sql, params = f"{sql} AND session_id = {mark}", [*params, session_id]
    return f"{sql} ORDER BY created_at DESC LIMIT {mark}", (*params, limit)


def lease() -> tuple[str, float]:
    return this_owner(), time.time() + LEASE_SECONDS


class InMemoryRunStore:
    """A `RunStore` in a dict, lost at exit. States are kept encoded, as a durable store
    keeps them, so what comes back is a copy with the same types, never a shared object."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], tuple[str, str | None]] = {}

    async def start(self, state: RunState) -> None:
        key = (state.principal.tenant_id, state.run_id)
        if key in self._runs:
            raise RunConflictError(f"a run with id {state.run_id!r} already exists")
        self._check_session_free(state)
        self._runs[key] = (encode_state(state), this_owner())

    async def checkpoint(self, state: RunState) -> None:
        owner = this_owner() if state.status == "running" else None
        self._runs[(state.principal.tenant_id, state.run_id)] = (encode_state(state), owner)

    async def complete(self, state: RunState, sessions: SessionStore | None) -> None:
        await self.checkpoint(state)
        await save_turn(sessions, state)

    async def load(self, run_id: str, *, tenant_id: str = DEFAULT_TENANT) -> RunState:
        return decode_state(self._entry(run_id, tenant_id)[0], run_id)

    async def decide(
        self, run_id: str, records: Sequence[DecisionRecord], *, tenant_id: str = DEFAULT_TENANT
    ) -> RunState:
        state = await self.load(run_id, tenant_id=tenant_id)
        check_decisions(state, records)
        state.decisions.extend(records)
        await self.checkpoint(state)
        return state

    async def claim(self, run_id: str, *, tenant_id: str = DEFAULT_TENANT) -> RunState:
        data, owner = self._entry(run_id, tenant_id)
        state = decode_state(data, run_id)
        check_claimable(state, owner, None)
        self._check_session_free(state)
        state.status = "running"
        await self.checkpoint(state)
        return state

    async def list_runs(
        self,
        *,
        tenant_id: str = DEFAULT_TENANT,
        status: RunStatus | None = None,
        session_id: str | None = None,
        limit: int = 50,
    ) -> list[RunState]:
        states = [decode_state(d, r) for (t, r), (d, _) in self._runs.items() if t == tenant_id]
        states = [s for s in states if status in (None, s.status)]
        states = [s for s in states if session_id in (None, s.session_id)]
        return sorted(states, key=lambda s: s.created_at, reverse=True)[:limit]

    def _entry(self, run_id: str, tenant_id: str) -> tuple[str, str | None]:
        try:
            return self._runs[(tenant_id, run_id)]
        except KeyError:
            raise RunNotFoundError(run_id) from None

    def _check_session_free(self, state: RunState) -> None:
        if state.session_id is None:
            return
        for (tenant, run_id), (data, owner) in self._runs.items():
            if tenant != state.principal.tenant_id or run_id == state.run_id or owner is None:
                continue
            other = decode_state(data, run_id)
            if other.session_id == state.session_id and other.status == "running":
                raise SessionBusyError(state.session_id, run_id)
