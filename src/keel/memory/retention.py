"""Deleting a user, and retention: what Keel stores about people, removed on request or
when it is old enough.

`delete_user` removes, in one transaction, every row of the app's database that belongs
to a user of a tenant: their sessions (messages cascade) and those sessions' summaries,
their runs (whose states hold messages), their memory facts with their vectors, their
traces and feedback, tickets, human handoffs and tool-ledger results. Knowledge-base
documents belong to the tenant, not a user, and stay. A store of the app's own adds a
`UserDataDeleter` with `register_deleter`, so one call still covers every store.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from keel.exceptions import ConfigurationError
from keel.principal import Principal
from keel.storage.sqlite import SQLiteDatabase

__all__ = [
    "DeletionReport",
    "RetentionPolicy",
    "UserDataDeleter",
    "apply_retention",
    "delete_user",
    "expired",
    "register_deleter",
    "user_deletions",
]

UserDataDeleter = Callable[[sqlite3.Connection, str, str], dict[str, int]]
"""(connection inside the deletion's transaction, tenant, user) -> rows deleted per table."""

_deleters: list[UserDataDeleter] = []


def register_deleter(deleter: UserDataDeleter) -> None:
    """Add a store's own deletion to `delete_user` (called inside its transaction)."""
    if deleter not in _deleters:
        _deleters.append(deleter)


@dataclass(frozen=True, slots=True)
class DeletionReport:
    tenant_id: str
    user_id: str
    deleted: dict[str, int] = field(default_factory=dict[str, int])

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def delete_user(db: SQLiteDatabase, principal: Principal) -> DeletionReport:
    """Remove everything stored about `principal`'s user in its tenant."""
    if principal.user_id is None:
        raise ConfigurationError("delete_user needs a principal with a user_id")
    tenant, user = principal.tenant_id, principal.user_id
    with db.transaction() as conn:
        deleted = _layers(conn, tenant, user)  # first: it finds the runs by their rows
        deleted.update(_core(conn, tenant, user))
        for deleter in _deleters:
            deleted.update(deleter(conn, tenant, user))
    return DeletionReport(tenant, user, deleted)


_USER_SESSIONS = "SELECT id FROM sessions WHERE tenant_id = ? AND user_id = ?"


def user_deletions(tenant: str, user: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(table, statement, parameters) removing a user's rows from the stores that exist
    on both backends (SQL for SQLite; PostgreSQL's placeholders through `to_postgres`)."""
    who = (tenant, user)
    return [
        ("memory_summaries", "DELETE FROM memory_summaries WHERE tenant_id = ? AND "
         f"(user_id = ? OR session_id IN ({_USER_SESSIONS}))", (*who, *who)),
        ("session_messages", "DELETE FROM session_messages WHERE tenant_id = ? AND "
         f"session_id IN ({_USER_SESSIONS})", (tenant, *who)),
        *[(t, f"DELETE FROM {t} WHERE tenant_id = ? AND user_id = ?", who)
          for t in ("sessions", "runs", "memory_facts")],
    ]  # fmt: skip


def _core(conn: sqlite3.Connection, tenant: str, user: str) -> dict[str, int]:
    return {
        t: conn.execute(sql, params).rowcount for t, sql, params in user_deletions(tenant, user)
    }


def _layers(conn: sqlite3.Connection, tenant: str, user: str) -> dict[str, int]:
    """The other layers' tables in the app database that hold a user's words: the trace
    store and feedback, support tickets, the human handoff queue, the tool ledger's
    results. (The audit chain keeps its entries: their arguments are PII-scrubbed and a
    deletion would break the chain.)"""
    who = (tenant, user)
    runs = [r[0] for r in conn.execute(_USER_RUNS, (*who, *who)).fetchall()]
    counts = {"feedback": 0, "tool_ledger": 0}
    for run_id in runs:
        counts["feedback"] += conn.execute(
            "DELETE FROM feedback WHERE tenant_id = ? AND run_id = ?", (tenant, run_id)
        ).rowcount
        counts["tool_ledger"] += conn.execute(
            "DELETE FROM tool_ledger WHERE key LIKE ? ESCAPE '\\'", (_like_prefix(run_id),)
        ).rowcount
    counts["human_handoff_messages"] = conn.execute(_HANDOFF_MESSAGES, who).rowcount
    for table in ("trace_runs", "tickets", "human_handoffs"):
        counts[table] = conn.execute(
            f"DELETE FROM {table} WHERE tenant_id = ? AND user_id = ?", who
        ).rowcount
    return counts


_USER_RUNS = (
    "SELECT run_id FROM trace_runs WHERE tenant_id = ? AND user_id = ? "
    "UNION SELECT id FROM runs WHERE tenant_id = ? AND user_id = ?"
)
_HANDOFF_MESSAGES = (
    "DELETE FROM human_handoff_messages WHERE tenant_id = ?1 AND handoff_id IN "
    "(SELECT id FROM human_handoffs WHERE tenant_id = ?1 AND user_id = ?2)"
)


def _like_prefix(run_id: str) -> str:
    escaped = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each store keeps data, in days (None: forever)."""

    sessions_days: float | None = 30
    runs_days: float | None = 30
    expired_facts: bool = True


def apply_retention(
    db: SQLiteDatabase, policy: RetentionPolicy, *, now: float | None = None
) -> dict[str, int]:
    """Delete what `policy` says is too old: sessions not updated within `sessions_days`
    (with their messages and summaries), finished runs older than `runs_days`, and
    expired memory facts. Returns rows deleted per table."""
    with db.transaction() as conn:
        return {t: conn.execute(sql, params).rowcount for t, sql, params in expired(policy, now)}


_OLD_SESSIONS = "SELECT tenant_id, id FROM sessions WHERE updated_at < ?"


def expired(
    policy: RetentionPolicy, now: float | None = None
) -> list[tuple[str, str, tuple[float]]]:
    """(table, statement, parameters) deleting what `policy` says is too old, on either
    backend (`?` placeholders, as in `user_deletions`)."""
    now = time.time() if now is None else now
    steps: list[tuple[str, str, tuple[float]]] = []
    if policy.sessions_days is not None:
        cutoff = (now - policy.sessions_days * 86_400,)
        steps += [(t, f"DELETE FROM {t} WHERE (tenant_id, session_id) IN ({_OLD_SESSIONS})", cutoff)
                  for t in ("memory_summaries", "session_messages")]  # fmt: skip
        steps.append(("sessions", "DELETE FROM sessions WHERE updated_at < ?", cutoff))
    if policy.runs_days is not None:
        steps.append(("runs", "DELETE FROM runs WHERE updated_at < ? AND status IN "
                      "('completed', 'failed')", (now - policy.runs_days * 86_400,)))  # fmt: skip
    if policy.expired_facts:
        steps.append(("memory_facts", "DELETE FROM memory_facts WHERE expires_at IS NOT NULL "
                      "AND expires_at <= ?", (now,)))  # fmt: skip
    return steps
