"""`keel audit verify|list`: check and read the tool gateway's audit chain.

The group is defined here and registered in `keel.cli` with one line; everything heavy
is imported when a command runs, so `keel --help` stays fast.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from keel.tools.gateway import GatewayStore, StoredEntry

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="Check and list the tool-call audit chain (written by the tool gateway).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_App = Annotated[
    str | None,
    typer.Option(
        "--app",
        metavar="MODULE:ATTR",
        help="The app whose database holds the audit chain. Default: the built-in starter.",
    ),
]
_Json = Annotated[bool, typer.Option("--json", metavar="", help="Print it as JSON.")]


@audit_app.command("verify")
def audit_verify(app: _App = None, as_json: _Json = False) -> None:
    """Recompute the hash chain; exit 1 naming every changed, deleted or cut entry."""
    from keel._cli.errors import FAILED, reported
    from keel._cli.ui import print_error, stderr_console

    with reported(stderr_console()):
        store, where = _store(app)
        report = store.verify()
    if as_json:
        problems = [{"seq": p.seq, "problem": p.problem} for p in report.problems]
        body = {"ok": report.ok, "checked": report.checked, "problems": problems}
        typer.echo(json.dumps({**body, "database": where}))
    elif report.ok:
        typer.echo(f"audit chain intact: {report.checked} entries checked in {where}")
    else:
        for problem in report.problems:
            print_error(stderr_console(), f"audit chain broken: {problem}")
    if not report.ok:
        raise typer.Exit(FAILED)


@audit_app.command("list")
def audit_list(
    app: _App = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", metavar="ID", help="Only this tenant's calls.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show at most N.")] = 20,
    as_json: _Json = False,
) -> None:
    """List audited tool calls, newest first: who, tool, decision, latency, result."""
    from keel._cli.errors import reported
    from keel._cli.ui import print_note, stderr_console

    with reported(stderr_console()):
        store, where = _store(app)
        entries = store.entries(tenant_id=tenant, limit=limit)
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in entries]))
    elif not entries:
        print_note(stderr_console(), f"no audited tool calls in {where}")
    else:
        for entry in entries:
            typer.echo("\t".join(_row(entry)))


def _store(app_path: str | None) -> tuple[GatewayStore, str]:
    from keel._cli.target import load_app_from_cwd
    from keel.tools.gateway import GatewayStore

    app = load_app_from_cwd(app_path)
    return GatewayStore(app.database_path), str(app.database_path)


def _row(stored: StoredEntry) -> list[str]:
    e = stored.entry
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
    who = f"{e.user_id or 'anonymous'}@{e.tenant_id}"
    decision = e.decision + (f" by {e.approver}" if e.approver else "")
    detail = e.reason or e.result
    return [
        str(stored.seq),
        when,
        who,
        e.agent or "-",
        e.tool,
        decision,
        f"{e.latency_ms:.1f}ms",
        " ".join(detail.split())[:80],
    ]
