"""`Ticket` and `TicketSink`: how Keel asks a person to follow up.

The model gateway opens one when every tier failed and the user got a canned apology;
other layers (a handoff nobody picked up, a failed webhook) may open their own kinds.
A sink is pluggable — a helpdesk API, a queue, a chat channel; the default stores tickets
in the app's database, listable with `keel tickets`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from keel.exceptions import KeelError
from keel.principal import ANONYMOUS, Principal

__all__ = [
    "InMemoryTicketSink",
    "Ticket",
    "TicketNotFoundError",
    "TicketSink",
    "TicketStatus",
]

TicketStatus = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class Ticket:
    """A request for a person to look at something: `kind` says what (e.g.
    `model_unavailable`), `reason` says why in a sentence, `detail` holds the facts."""

    kind: str
    reason: str
    run_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    tenant_id: str = ANONYMOUS.tenant_id
    detail: dict[str, Any] = field(default_factory=dict[str, Any])
    id: str = field(default_factory=lambda: f"tkt_{uuid.uuid4().hex[:16]}")
    created_at: float = field(default_factory=time.time)
    status: TicketStatus = "open"

    @classmethod
    def for_principal(
        cls,
        kind: str,
        reason: str,
        principal: Principal,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Ticket:
        return cls(
            kind,
            reason,
            run_id=run_id,
            session_id=session_id,
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            detail=dict(detail or {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "reason": self.reason,
            "status": self.status,
            "run_id": self.run_id,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "tenant_id": self.tenant_id,
            "detail": self.detail,
            "created_at": self.created_at,
        }


@runtime_checkable
class TicketSink(Protocol):
    """Where tickets go. `open` returns the ticket as recorded (a sink may assign an id)."""

    async def open(self, ticket: Ticket) -> Ticket: ...


class InMemoryTicketSink:
    """Keeps tickets in a list: for tests, and for apps that only log them."""

    def __init__(self) -> None:
        self.tickets: list[Ticket] = []

    async def open(self, ticket: Ticket) -> Ticket:
        self.tickets.append(ticket)
        return ticket

    async def list_tickets(
        self,
        *,
        tenant_id: str = ANONYMOUS.tenant_id,
        status: TicketStatus | None = None,
        limit: int = 50,
    ) -> list[Ticket]:
        found = [
            t
            for t in reversed(self.tickets)
            if t.tenant_id == tenant_id and (status is None or t.status == status)
        ]
        return found[:limit]

    async def close(self, ticket_id: str, *, tenant_id: str = ANONYMOUS.tenant_id) -> Ticket:
        for index, ticket in enumerate(self.tickets):
            if ticket.id == ticket_id and ticket.tenant_id == tenant_id:
                self.tickets[index] = replace(ticket, status="closed")
                return self.tickets[index]
        raise TicketNotFoundError(ticket_id)


class TicketNotFoundError(KeelError, LookupError):
    """No ticket has this id in this tenant."""

    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"no ticket with id {ticket_id!r}; list them with `keel tickets`")
        self.ticket_id = ticket_id
