"""`keel feedback`: record thumbs, CSAT and text on a run; list it; summarise it per
agent and day (the default)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from keel._cli.errors import USAGE_ERROR, CliError, reported
from keel._cli.target import load_app_from_cwd
from keel._cli.ui import print_note, stderr_console

__all__ = ["feedback_app"]

feedback_app = typer.Typer(
    help="Record and summarise feedback on runs.", no_args_is_help=False, rich_markup_mode=None
)
AppOpt = Annotated[
    str | None, typer.Option("--app", metavar="PATH", help="The app, as module:attribute.")
]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print it as JSON.")]


def _store(app_path: str | None):
    from keel.observability.feedback import FeedbackStore

    return FeedbackStore(load_app_from_cwd(app_path).trace_store.db)


@feedback_app.callback(invoke_without_command=True)
def feedback(ctx: typer.Context, app: AppOpt = None, as_json: JsonOpt = False) -> None:
    """Feedback per agent and day: count, thumbs up and down, mean CSAT."""
    if ctx.invoked_subcommand is not None:
        return
    with reported(stderr_console()):
        rows = _store(app).summary()
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    if not rows:
        print_note(stderr_console(), "no feedback yet")
    for r in rows:
        csat = "-" if r.csat_mean is None else f"{r.csat_mean:.2f}"
        typer.echo(
            f"{r.day}\t{r.agent_name}\t{r.count} rated\t+{r.thumbs_up} -{r.thumbs_down}"
            f"\tCSAT {csat}"
        )


@feedback_app.command("add")
def add(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run rated.")],
    *,
    up: Annotated[bool, typer.Option("--up", help="Thumbs up.")] = False,
    down: Annotated[bool, typer.Option("--down", help="Thumbs down.")] = False,
    csat: Annotated[int | None, typer.Option("--csat", metavar="N", help="1 to 5.")] = None,
    text: Annotated[str | None, typer.Option("--text", metavar="TEXT", help="Comment.")] = None,
    app: AppOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record feedback on a run."""
    from keel.observability.feedback import FeedbackError

    with reported(stderr_console()):
        if up and down:
            raise CliError("give --up or --down, not both", code=USAGE_ERROR)
        thumbs = "up" if up else "down" if down else None
        try:
            saved = _store(app).add(run_id, thumbs=thumbs, csat=csat, text=text)
        except FeedbackError as exc:
            raise CliError(str(exc), code=USAGE_ERROR) from exc
    if as_json:
        typer.echo(json.dumps(asdict(saved), indent=2))
    else:
        print_note(stderr_console(), f"feedback recorded on run {run_id}")


@feedback_app.command("list")
def list_feedback(
    run_id: Annotated[
        str | None, typer.Option("--run", metavar="ID", help="Only this run.")
    ] = None,
    app: AppOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List feedback, most recent first."""
    with reported(stderr_console()):
        rows = _store(app).list(run_id=run_id)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    for r in rows:
        typer.echo(
            f"{r.run_id}\t{r.agent_name}\t{r.thumbs or '-'}\t{r.csat or '-'}\t{r.text or ''}"
        )
