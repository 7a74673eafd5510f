"""`keel plans`: the plans of an app (proposed, waiting, running, done) and one in full.

Plans live in the app's database beside its runs. A plan proposed inside a run waits on
that run's pending action: `keel plans` names the run, and `keel runs approve|reject RUN`
decides it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

from keel._cli.errors import USAGE_ERROR, CliError, reported
from keel._cli.ui import one_line, print_note, stderr_console, stdout_console

if TYPE_CHECKING:  # imported when a command runs: `keel --help` stays quick
    from keel.workflows.store import PlanRecord, PlanStore

__all__ = ["plans_app"]

_App = Annotated[
    str | None,
    typer.Option("--app", metavar="MODULE:ATTR", help="The app whose plans to show."),
]
_Json = Annotated[bool, typer.Option("--json", metavar="", help="Print it as JSON.")]

plans_app = typer.Typer(
    help="Plans: list them, or show one with its steps.",
    no_args_is_help=False,
    rich_markup_mode=None,
)


def _store(app_path: str | None) -> PlanStore:
    from keel._cli.target import load_app_from_cwd
    from keel.storage.sqlite import SQLiteDatabase
    from keel.workflows.store import PlanStore

    return PlanStore(SQLiteDatabase(load_app_from_cwd(app_path).database_path))


def _json(record: PlanRecord) -> dict[str, Any]:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(record)


@plans_app.callback(invoke_without_command=True)
def plans(
    ctx: typer.Context,
    app: _App = None,
    status: Annotated[
        str | None, typer.Option("--status", metavar="S", help="Only plans in this status.")
    ] = None,
    as_json: _Json = False,
) -> None:
    """List plans, most recently changed first, with the run that confirms each."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from keel.workflows.store import PlanStatus

    with reported(stderr_console()):
        statuses: tuple[str, ...] = get_args(PlanStatus)
        if status is not None and status not in statuses:
            raise CliError(f"--status must be one of {', '.join(statuses)}", code=USAGE_ERROR)
        records = _store(app).list(status=status)  # type: ignore[arg-type]
        if as_json:
            stdout_console().print_json(json.dumps([_json(r) for r in records]))
            return
        if not records:
            print_note(stderr_console(), "no plans")
            return
        rows = [
            [r.id, r.status, f"{sum(s.status == 'finished' for s in r.steps)}/{len(r.steps)}",
             r.run_id or "-", one_line(r.plan.goal)]
            for r in records
        ]  # fmt: skip
        if not stdout_console().is_terminal:  # for scripts: one plan a line, tab-separated
            for row in rows:
                typer.echo("\t".join(row))
            return
        table = Table("id", "status", "steps", "run", "goal", box=None)
        for row in rows:
            table.add_row(*row)
        stdout_console().print(table)


@plans_app.command("show")
def plans_show(
    plan_id: Annotated[str, typer.Argument(metavar="ID", help="The plan's id.")],
    app: _App = None,
    as_json: _Json = False,
) -> None:
    """Show one plan: its steps, each step's outcome, and how to decide it if it waits."""
    from keel.workflows.plan import PlanError

    with reported(stderr_console()):
        try:
            record = _store(app).load(plan_id, tenant_id="default")
        except PlanError as exc:
            raise CliError(f"{exc} (see `keel plans`)", code=USAGE_ERROR) from None
        if as_json:
            stdout_console().print_json(json.dumps(_json(record)))
            return
        out = stdout_console()
        out.print(f"{record.id} · {record.status} · run {record.run_id or '-'}")
        for number, (step, state) in enumerate(
            zip(record.plan.steps, record.steps, strict=True), 1
        ):
            outcome = state.result or state.error or ""
            out.print(f"  {number}. {step.tool} {json.dumps(step.arguments)}: {state.status} "
                      f"{one_line(outcome)}")  # fmt: skip
        if record.report or record.error:
            out.print(f"report: {record.report or record.error}")
        if record.status == "awaiting_confirmation" and record.run_id:
            print_note(stderr_console(), f"confirm with: keel runs approve {record.run_id}")
