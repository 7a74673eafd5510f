"""`keel tickets`: the support tickets an app opened (e.g. when every model was down)."""

from __future__ import annotations

import json
import time
from typing import cast, get_args

import typer
from rich.table import Table

from keel._cli.errors import USAGE_ERROR, CliError, reported
from keel._cli.loop import TurnLoop
from keel._cli.target import load_app_from_cwd
from keel._cli.ui import one_line, print_note, stderr_console, stdout_console
from keel.tickets import Ticket, TicketStatus

__all__ = ["show_tickets"]

STATUSES: tuple[str, ...] = get_args(TicketStatus)


def show_tickets(app_path: str | None, *, status: str | None, limit: int, as_json: bool) -> None:
    out, err = stdout_console(), stderr_console()
    with reported(err), TurnLoop() as loop:
        wanted = _check_status(status)
        app = load_app_from_cwd(app_path)
        tickets = loop.run(app.ticket_store.list_tickets(status=wanted, limit=limit))
    if as_json:
        typer.echo(json.dumps([t.to_json() for t in tickets], indent=2))
    elif not tickets:
        print_note(err, f"no {status + ' ' if status else ''}tickets in {app.database_path}")
    elif not out.is_terminal:  # for scripts: one ticket a line, tab-separated
        for ticket in tickets:
            typer.echo("\t".join(_row(ticket)))
    else:
        out.print(_table(tickets))


def _check_status(status: str | None) -> TicketStatus | None:
    if status is None or status in STATUSES:
        return cast("TicketStatus | None", status)
    raise CliError(
        f"unknown ticket status {status!r}; use one of {', '.join(STATUSES)}", code=USAGE_ERROR
    )


def _row(ticket: Ticket) -> list[str]:
    return [
        ticket.id,
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ticket.created_at)),
        ticket.status,
        ticket.kind,
        ticket.run_id or "-",
        f"{ticket.user_id or 'anonymous'}@{ticket.tenant_id}",
        one_line(ticket.reason),
    ]


def _table(tickets: list[Ticket]) -> Table:
    table = Table(box=None)
    for name in ("ticket", "opened", "status", "kind", "run", "for", "reason"):
        table.add_column(name, no_wrap=name != "reason")
    for ticket in tickets:
        table.add_row(*_row(ticket))
    return table
