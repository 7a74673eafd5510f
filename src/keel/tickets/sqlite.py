"""`SQLiteTicketStore`: tickets in the app's SQLite database (migration 0006)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, cast

from keel.principal import DEFAULT_TENANT
from keel.storage.sqlite import SQLiteDatabase
from keel.tickets.base import Ticket, TicketNotFoundError, TicketStatus

__all__ = ["SQLiteTicketStore"]

_COLUMNS = "tenant_id, id, kind, reason, status, user_id, run_id, session_id, detail, created_at"


class SQLiteTicketStore:
    """A `TicketSink` that stores tickets; pass a path or the app's `SQLiteDatabase`."""

    def __init__(self, database: str | Path | SQLiteDatabase) -> None:
        self.db = database if isinstance(database, SQLiteDatabase) else SQLiteDatabase(database)

    async def open(self, ticket: Ticket) -> Ticket:
        detail = json.dumps(ticket.detail, default=str)  # before the write: fails whole
        with self.db.transaction() as conn:
            conn.execute(
                f"INSERT INTO tickets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ticket.tenant_id,
                    ticket.id,
                    ticket.kind,
                    ticket.reason,
                    ticket.status,
                    ticket.user_id,
                    ticket.run_id,
                    ticket.session_id,
                    detail,
                    ticket.created_at,
                ),
            )
        return ticket

    async def get(self, ticket_id: str, *, tenant_id: str = DEFAULT_TENANT) -> Ticket:
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM tickets WHERE tenant_id = ? AND id = ?",
                (tenant_id, ticket_id),
            ).fetchone()
        if row is None:
            raise TicketNotFoundError(ticket_id)
        return _ticket(row)

    async def list_tickets(
        self,
        *,
        tenant_id: str = DEFAULT_TENANT,
        status: TicketStatus | None = None,
        limit: int = 50,
    ) -> list[Ticket]:
        """Most recent first."""
        query = f"SELECT {_COLUMNS} FROM tickets WHERE tenant_id = ?"
        params: list[Any] = [tenant_id]
        if status is not None:
            query += " AND status = ?"
            params.append(status)
        query += " ORDER BY created_at DESC LIMIT ?"
        params.append(limit)
        with self.db.reading() as conn:
            rows = conn.execute(query, params).fetchall()
        return [_ticket(row) for row in rows]

    async def close(self, ticket_id: str, *, tenant_id: str = DEFAULT_TENANT) -> Ticket:
        with self.db.transaction() as conn:
            updated = conn.execute(
                "UPDATE tickets SET status = 'closed' WHERE tenant_id = ? AND id = ?",
                (tenant_id, ticket_id),
            ).rowcount
        if not updated:
            raise TicketNotFoundError(ticket_id)
        return await self.get(ticket_id, tenant_id=tenant_id)


def _ticket(row: sqlite3.Row | tuple[Any, ...]) -> Ticket:
    tenant, ticket_id, kind, reason, status, user, run, session, detail, created = row
    return Ticket(
        kind,
        reason,
        run_id=run,
        session_id=session,
        user_id=user,
        tenant_id=tenant,
        detail=cast("dict[str, Any]", json.loads(detail)),
        id=ticket_id,
        created_at=created,
        status=status,
    )
