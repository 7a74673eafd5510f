"""`HumanQueue`: escalations waiting for a person, in the app's SQLite database.

The rules: a session has at most one active (open or claimed) item — opening a second
returns the first; `claim` takes an open item for exactly one person; `hand_back` closes
an active item exactly once; both are single conditional UPDATEs, so of two racing
requests one takes effect and the other gets `HandoffConflictError`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from keel.exceptions import KeelError
from keel.principal import DEFAULT_TENANT
from keel.storage.sqlite import SQLiteDatabase

__all__ = [
    "HandoffConflictError",
    "HandoffError",
    "HandoffItem",
    "HandoffNotFoundError",
    "HandoffStatus",
    "HumanQueue",
]

HandoffStatus = Literal["open", "claimed", "returned"]


class HandoffError(KeelError):
    """A human-handoff request that cannot be carried out."""


class HandoffNotFoundError(HandoffError):
    """No queue item with that id in this tenant."""


class HandoffConflictError(HandoffError):
    """The item is not in a state that allows the request (already claimed, returned…)."""


@dataclass(slots=True, kw_only=True)
class HandoffItem:
    id: str
    session_id: str | None
    trigger: str
    reason: str
    summary: str
    transcript: list[dict[str, str]]
    tenant_id: str = DEFAULT_TENANT
    user_id: str | None = None
    run_id: str | None = None
    trace_id: str | None = None
    agent_name: str | None = None
    status: HandoffStatus = "open"
    claimed_by: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    messages: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """What was said since the handoff: {"author": "customer"|person, "text", "at"}."""

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


_COLUMNS = (
    "tenant_id, id, session_id, user_id, run_id, trace_id, agent_name, trigger, reason, "
    "summary, transcript, status, claimed_by, created_at, updated_at"
)


class HumanQueue:
    def __init__(self, database: SQLiteDatabase) -> None:
        self.db = database

    def open(self, item: HandoffItem) -> HandoffItem:
        """Store a new item; if the session already has an active one, return that."""
        row = (
            item.tenant_id, item.id, item.session_id, item.user_id, item.run_id,
            item.trace_id, item.agent_name, item.trigger, item.reason, item.summary,
            json.dumps(item.transcript), item.status, item.claimed_by, item.created_at,
            item.updated_at,
        )  # fmt: skip
        try:
            with self.db.transaction() as conn:
                conn.execute(f"INSERT INTO human_handoffs ({_COLUMNS}) VALUES ({_marks()})", row)
        except sqlite3.IntegrityError:
            active = self.active(item.session_id, tenant_id=item.tenant_id)
            if active is None:
                raise
            return active
        return item

    def active(
        self, session_id: str | None, *, tenant_id: str = DEFAULT_TENANT
    ) -> HandoffItem | None:
        if session_id is None:
            return None
        rows = self._select(
            "tenant_id = ? AND session_id = ? AND status IN ('open', 'claimed')",
            (tenant_id, session_id),
        )
        return rows[0] if rows else None

    def get(self, handoff_id: str, *, tenant_id: str = DEFAULT_TENANT) -> HandoffItem:
        rows = self._select("tenant_id = ? AND id = ?", (tenant_id, handoff_id))
        if not rows:
            raise HandoffNotFoundError(f"no handoff {handoff_id!r}; see `keel handoffs list`")
        item = rows[0]
        item.messages = self._messages(tenant_id, handoff_id)
        return item

    def list(
        self, *, tenant_id: str = DEFAULT_TENANT, status: HandoffStatus | None = None
    ) -> list[HandoffItem]:
        if status is None:
            return self._select("tenant_id = ?", (tenant_id,))
        return self._select("tenant_id = ? AND status = ?", (tenant_id, status))

    def add_message(
        self, handoff_id: str, author: str, text: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> None:
        with self.db.transaction() as conn:
            (last,) = conn.execute(
                "SELECT coalesce(max(seq), 0) FROM human_handoff_messages "
                "WHERE tenant_id = ? AND handoff_id = ?",
                (tenant_id, handoff_id),
            ).fetchone()
            conn.execute(
                "INSERT INTO human_handoff_messages VALUES (?, ?, ?, ?, ?, ?)",
                (tenant_id, handoff_id, last + 1, author, text, time.time()),
            )

    def claim(self, handoff_id: str, by: str, *, tenant_id: str = DEFAULT_TENANT) -> HandoffItem:
        self._transition(handoff_id, tenant_id, "claimed", by, allowed=("open",), verb="claim")
        return self.get(handoff_id, tenant_id=tenant_id)

    def hand_back(
        self, handoff_id: str, by: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> HandoffItem:
        allowed = ("open", "claimed")
        self._transition(handoff_id, tenant_id, "returned", by, allowed=allowed, verb="hand back")
        return self.get(handoff_id, tenant_id=tenant_id)

    def _transition(
        self,
        handoff_id: str,
        tenant_id: str,
        to: str,
        by: str,
        *,
        allowed: tuple[str, ...],
        verb: str,
    ) -> None:
        marks = ", ".join("?" for _ in allowed)
        with self.db.transaction() as conn:
            changed = conn.execute(
                f"UPDATE human_handoffs SET status = ?, claimed_by = coalesce(?, claimed_by), "
                f"updated_at = ? WHERE tenant_id = ? AND id = ? AND status IN ({marks})",
                (to, by if to == "claimed" else None, time.time(), tenant_id, handoff_id, *allowed),
            ).rowcount
        if not changed:
            item = self.get(handoff_id, tenant_id=tenant_id)  # raises if unknown
            who = f" by {item.claimed_by}" if item.claimed_by else ""
            raise HandoffConflictError(
                f"cannot {verb} handoff {handoff_id!r}: it is {item.status}{who}"
            )

    def _select(self, where: str, args: tuple[Any, ...]) -> list[HandoffItem]:
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM human_handoffs WHERE {where} ORDER BY created_at", args
            ).fetchall()
        return [_item(r) for r in rows]

    def _messages(self, tenant_id: str, handoff_id: str) -> list[dict[str, Any]]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT author, text, created_at FROM human_handoff_messages "
                "WHERE tenant_id = ? AND handoff_id = ? ORDER BY seq",
                (tenant_id, handoff_id),
            ).fetchall()
        return [{"author": a, "text": t, "at": at} for a, t, at in rows]


def _marks() -> str:
    return ", ".join("?" for _ in _COLUMNS.split(","))


def _item(row: tuple[Any, ...]) -> HandoffItem:
    (tenant, id_, session, user, run, trace, agent, trigger, reason, summary, transcript,
     status, claimed_by, created, updated) = row  # fmt: skip
    return HandoffItem(
        id=id_, session_id=session, trigger=trigger, reason=reason, summary=summary,
        transcript=json.loads(transcript), tenant_id=tenant, user_id=user, run_id=run,
        trace_id=trace, agent_name=agent, status=status, claimed_by=claimed_by,
        created_at=created, updated_at=updated,
    )  # fmt: skip


def new_handoff_id() -> str:
    return "h" + os.urandom(6).hex()
