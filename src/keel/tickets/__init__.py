"""Support tickets: `Ticket`, the pluggable `TicketSink`, and the stored default.

from keel.tickets import Ticket, SQLiteTicketStore
"""

from keel.tickets.base import (
    InMemoryTicketSink,
    Ticket,
    TicketNotFoundError,
    TicketSink,
    TicketStatus,
)
from keel.tickets.sqlite import SQLiteTicketStore

__all__ = [
    "InMemoryTicketSink",
    "SQLiteTicketStore",
    "Ticket",
    "TicketNotFoundError",
    "TicketSink",
    "TicketStatus",
]
