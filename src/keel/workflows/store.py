"""`PlanRecord` and its SQLite store: confirm and claim are single conditional UPDATEs, so
of two racing requests exactly one takes effect."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import TypeAdapter

from keel.principal import ANONYMOUS, Principal
from keel.runs.lease import LEASE_SECONDS, owner_alive, this_owner
from keel.storage.sqlite import SQLiteDatabase
from keel.workflows.plan import Plan, PlanError

__all__ = ["PlanRecord", "PlanStatus", "PlanStore", "StepRecord"]

PlanStatus = Literal[
    "awaiting_confirmation", "confirmed", "rejected", "running", "compensating",
    "completed", "failed", "needs_attention",
]  # fmt: skip
StepStatus = Literal["planned", "started", "finished", "failed"]


@dataclass(slots=True)
class StepRecord:
    status: StepStatus = "planned"
    result: str | None = None
    error: str | None = None
    attempts: int = 0


@dataclass(slots=True, kw_only=True)
class PlanRecord:
    id: str
    plan: Plan
    principal: Principal = ANONYMOUS
    status: PlanStatus = "awaiting_confirmation"
    steps: list[StepRecord] = field(default_factory=list[StepRecord])
    compensations: dict[int, StepRecord] = field(default_factory=dict[int, StepRecord])
    """Step index → its compensation's record, once compensation began."""
    next_step: int = 0
    failed_step: int | None = None
    confirmed_by: str | None = None
    """Who confirmed or rejected it: a person's name, or "policy"."""
    error: str | None = None
    report: str | None = None
    run_id: str | None = None
    """The run whose pending action confirms it (`keel runs approve|reject RUN`); None for
    a plan proposed outside a run (`PlanExecutor.propose`)."""


_ADAPTER = TypeAdapter(PlanRecord)


class PlanStore:
    def __init__(self, database: SQLiteDatabase) -> None:
        self.db = database

    def create(self, record: PlanRecord) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO plans VALUES (?, ?, ?, NULL, NULL, ?, ?, ?)",
                (record.principal.tenant_id, record.id, record.status, _dump(record), now, now),
            )

    def ensure(self, record: PlanRecord) -> PlanRecord:
        """Store `record` unless a plan with its id exists; the stored one either way (a
        re-invoked plan tool finds the plan its first call created)."""
        now, tenant = time.time(), record.principal.tenant_id
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO plans VALUES (?, ?, ?, NULL, NULL, ?, ?, ?)",
                (tenant, record.id, record.status, _dump(record), now, now),
            )
        return self.load(record.id, tenant_id=tenant)

    def list(
        self, *, tenant_id: str = "default", status: PlanStatus | None = None, limit: int = 50
    ) -> list[PlanRecord]:
        """The most recently updated plans first."""
        where, args = "tenant_id = ?", [tenant_id]
        if status is not None:
            where, args = where + " AND status = ?", [*args, status]
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT state FROM plans WHERE {where} ORDER BY updated_at DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_ADAPTER.validate_json(row[0]) for row in rows]

    def load(self, plan_id: str, *, tenant_id: str) -> PlanRecord:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT state FROM plans WHERE tenant_id = ? AND id = ?", (tenant_id, plan_id)
            ).fetchone()
        if row is None:
            raise PlanError(f"no plan {plan_id!r}")
        return _ADAPTER.validate_json(row[0])

    def save(self, record: PlanRecord) -> None:
        """A checkpoint: the whole state, and this process's lease while it runs."""
        running = record.status in ("running", "compensating")
        owner, until = (this_owner(), time.time() + LEASE_SECONDS) if running else (None, None)
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE plans SET status = ?, owner = ?, lease_until = ?, state = ?, "
                "updated_at = ? WHERE tenant_id = ? AND id = ?",
                (record.status, owner, until, _dump(record), time.time(),
                 record.principal.tenant_id, record.id),
            )  # fmt: skip

    def transition(self, record: PlanRecord, allowed: tuple[PlanStatus, ...]) -> bool:
        """Write `record` only if the stored status is still one of `allowed`."""
        marks = ", ".join("?" for _ in allowed)
        with self.db.transaction() as conn:
            changed = conn.execute(
                f"UPDATE plans SET status = ?, state = ?, updated_at = ? "
                f"WHERE tenant_id = ? AND id = ? AND status IN ({marks})",
                (record.status, _dump(record), time.time(), record.principal.tenant_id,
                 record.id, *allowed),
            ).rowcount  # fmt: skip
        return bool(changed)

    def claim(self, plan_id: str, *, tenant_id: str) -> PlanRecord:
        """Take a confirmed plan, or one whose running owner died, for this process."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT status, owner, lease_until FROM plans WHERE tenant_id = ? AND id = ?",
                (tenant_id, plan_id),
            ).fetchone()
            if row is None:
                raise PlanError(f"no plan {plan_id!r}")
            status, owner, until = row
            busy = status in ("running", "compensating") and owner_alive(owner, until, time.time())
            if status not in ("confirmed", "running", "compensating") or busy:
                state = f"{status} in another process" if busy else status
                raise PlanError(f"plan {plan_id!r} is {state}; it cannot be executed now")
            conn.execute(
                "UPDATE plans SET owner = ?, lease_until = ? WHERE tenant_id = ? AND id = ?",
                (this_owner(), time.time() + LEASE_SECONDS, tenant_id, plan_id),
            )
        return self.load(plan_id, tenant_id=tenant_id)


def _dump(record: PlanRecord) -> str:
    return _ADAPTER.dump_json(record).decode()
