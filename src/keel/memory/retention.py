"""Deleting a user, and retention: what Keel stores about people, removed on request or
when it is old enough.

`delete_user` removes, in one transaction, every row of the app's database that belongs
to a user of a tenant: their sessions (messages cascade) and those sessions' summaries,
their runs (whose states hold messages), and their memory facts with their vectors.
Knowledge-base documents belong to the tenant, not a user, and stay. Other layers with
user data in the same database (traces, audit, tickets) add a `UserDataDeleter` with
`register_deleter`, so one call still covers every store.
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
    "register_deleter",
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
        deleted = _core(conn, tenant, user)
        for deleter in _deleters:
            deleted.update(deleter(conn, tenant, user))
    return DeletionReport(tenant, user, deleted)


def _core(conn: sqlite3.Connection, tenant: str, user: str) -> dict[str, int]:
    sessions = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM sessions WHERE tenant_id = ? AND user_id = ?", (tenant, user)
        ).fetchall()
    ]
    counts = {"memory_summaries": 0, "session_messages": 0}
    for session in sessions:
        key = (tenant, session)
        counts["memory_summaries"] += conn.execute(
            "DELETE FROM memory_summaries WHERE tenant_id = ? AND session_id = ?", key
        ).rowcount
        counts["session_messages"] += conn.execute(
            "DELETE FROM session_messages WHERE tenant_id = ? AND session_id = ?", key
        ).rowcount
    counts["memory_summaries"] += conn.execute(
        "DELETE FROM memory_summaries WHERE tenant_id = ? AND user_id = ?", (tenant, user)
    ).rowcount
    for table in ("sessions", "runs", "memory_facts"):
        counts[table] = conn.execute(
            f"DELETE FROM {table} WHERE tenant_id = ? AND user_id = ?", (tenant, user)
        ).rowcount
    return counts


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
    now = time.time() if now is None else now
    counts: dict[str, int] = {}
    with db.transaction() as conn:
        if policy.sessions_days is not None:
            counts.update(_old_sessions(conn, now - policy.sessions_days * 86_400))
        if policy.runs_days is not None:
            counts["runs"] = conn.execute(
                "DELETE FROM runs WHERE updated_at < ? AND status IN ('completed', 'failed')",
                (now - policy.runs_days * 86_400,),
            ).rowcount
        if policy.expired_facts:
            counts["memory_facts"] = conn.execute(
                "DELETE FROM memory_facts WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (now,),
            ).rowcount
    return counts


def _old_sessions(conn: sqlite3.Connection, cutoff: float) -> dict[str, int]:
    old = conn.execute("SELECT tenant_id, id FROM sessions WHERE updated_at < ?", (cutoff,))
    counts = {"sessions": 0, "session_messages": 0, "memory_summaries": 0}
    for key in old.fetchall():
        counts["memory_summaries"] += conn.execute(
            "DELETE FROM memory_summaries WHERE tenant_id = ? AND session_id = ?", key
        ).rowcount
        counts["session_messages"] += conn.execute(
            "DELETE FROM session_messages WHERE tenant_id = ? AND session_id = ?", key
        ).rowcount
        counts["sessions"] += conn.execute(
            "DELETE FROM sessions WHERE tenant_id = ? AND id = ?", key
        ).rowcount
    return counts
