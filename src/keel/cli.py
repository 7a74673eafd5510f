"""`keel`: chat with an agent, ask it one question, list models and sessions.

    keel chat [--app pkg.module:attr] [--agent NAME] [--session ID]
    keel run "question" [--json] [--run-id ID]   (`-` reads the question from stdin)
    keel models
    keel sessions [--limit N] [--clear ID]
    keel runs [--status S] [--session ID] [--limit N] [--json]
    keel runs show|approve|reject|resume ID …
    keel audit verify|list [--app …] [--json]
    keel mcp serve [--app …] [--http PORT]
    keel tickets [--status S] [--limit N] [--json]

    keel route "message" [--app …] [--json]
    keel handoffs [list|show|claim|reply|handback] …
    keel plans [show ID] [--app …] [--json]

    keel serve [--app pkg.module:attr] [--config FILE] [--host H] [--port P]
    keel worker --config FILE [--app pkg.module:attr]

The work happens in `keel._cli`, imported by each command when it runs, so that
`keel --version` and `keel --help` start quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

import keel
from keel._cli.kb import kb_app
from keel._cli.users import users_app

__all__ = ["cli", "main"]

cli = typer.Typer(
    name="keel",
    help="Keel: a production runtime for LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold keys and user data
    rich_markup_mode=None,  # plain help: typer's rich panels print `<bool>` beside flags
)

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        metavar="MODULE:ATTR",
        help="The App or Agent to serve, e.g. myproject.agents:app "
        "(found from the current directory too). Default: the built-in starter.",
    ),
]
AgentOption = Annotated[
    str | None,
    typer.Option(
        "--agent", metavar="NAME", help="Which of the app's agents. Default: its default."
    ),
]
SessionOption = Annotated[
    str | None,
    typer.Option("--session", metavar="ID", help="Continue this session (see `keel sessions`)."),
]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"keel {keel.__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            metavar="",  # a flag takes no value; typer would otherwise show "<bool>"
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Keel: a production runtime for LLM agents."""


@cli.command()
def chat(app: AppOption = None, agent: AgentOption = None, session: SessionOption = None) -> None:
    """Chat with an agent in the terminal; every conversation is saved and resumable."""
    from keel._cli.chat import run_chat

    run_chat(app, agent, session)


@cli.command()
def run(
    question: Annotated[
        str, typer.Argument(metavar="QUESTION", help="The question; - reads it from stdin.")
    ],
    *,
    app: AppOption = None,
    agent: AgentOption = None,
    session: SessionOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            metavar="",  # a flag takes no value; typer would otherwise show "<bool>"
            help="Print status, output, pending, usage, session_id and run_id as JSON.",
        ),
    ] = False,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            metavar="ID",
            help="Give the run this id; if a run with it exists, its outcome is printed "
            "and nothing runs again.",
        ),
    ] = None,
) -> None:
    """Ask one question and print the answer (saved as a session you can continue).

    A run that waits for a person's approval exits 0 and names the command that approves it.
    """
    from keel._cli.oneshot import run_once

    run_once(
        question,
        app_path=app,
        agent_name=agent,
        session_id=session,
        as_json=as_json,
        run_id=run_id,
    )


@cli.command()
def models() -> None:
    """List the model providers and the local models."""
    from keel._cli.listing import show_models

    show_models()


@cli.command()
def sessions(
    app: AppOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show at most N.")] = 20,
    clear: Annotated[
        str | None, typer.Option("--clear", metavar="ID", help="Delete this session.")
    ] = None,
) -> None:
    """List saved sessions, most recent first, or delete one."""
    from keel._cli.listing import clear_session, show_sessions

    if clear is not None:
        clear_session(app, clear)
    else:
        show_sessions(app, limit)


runs_app = typer.Typer(
    help="List, inspect, approve, reject and resume runs.",
    no_args_is_help=False,  # `keel runs` alone lists them
)
cli.add_typer(runs_app, name="runs")
cli.add_typer(kb_app, name="kb")  # issue 8: keel kb ingest|search|list|rebuild
cli.add_typer(users_app, name="users")  # issue 8: keel users delete

JsonOption = Annotated[bool, typer.Option("--json", metavar="", help="Print it as JSON.")]
RunIdArgument = Annotated[str, typer.Argument(metavar="ID", help="The run's id (see `keel runs`).")]
PendingArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="PENDING", help="The pending action's id. Default: every undecided one."
    ),
]


@dataclass(frozen=True, slots=True)
class _RunsOptions:
    """`--app`/`--json` given before the subcommand: `keel runs --app X show ID`."""

    app: str | None
    as_json: bool


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    *,
    app: AppOption = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="S",
            help="Only runs with this status: running, suspended, needs_attention, "
            "completed or failed.",
        ),
    ] = None,
    session: Annotated[
        str | None, typer.Option("--session", metavar="ID", help="Only runs of this session.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show at most N.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List runs, most recently started first."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = _RunsOptions(app, as_json)
        return
    from keel._cli.runs import show_runs

    show_runs(app, status=status, session_id=session, limit=limit, as_json=as_json)


def _runs_options(ctx: typer.Context, app: str | None, as_json: bool) -> _RunsOptions:
    """A subcommand's own options, else those given to `keel runs` before it."""
    group = ctx.obj if isinstance(ctx.obj, _RunsOptions) else _RunsOptions(None, False)
    return _RunsOptions(app or group.app, as_json or group.as_json)


@runs_app.command("show")
def runs_show(
    ctx: typer.Context, run_id: RunIdArgument, app: AppOption = None, as_json: JsonOption = False
) -> None:
    """Show a run: status, pending actions, decisions, output or error, messages."""
    from keel._cli.runs import show_run

    options = _runs_options(ctx, app, as_json)
    show_run(options.app, run_id, as_json=options.as_json)


@runs_app.command("approve")
def runs_approve(
    ctx: typer.Context,
    run_id: RunIdArgument,
    pending: PendingArgument = None,
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a pending action (or all of them); the run goes on once none is left."""
    from keel import Approve
    from keel._cli.runs import decide_run

    options = _runs_options(ctx, app, as_json)
    decide_run(options.app, run_id, pending, Approve(), as_json=options.as_json)


@runs_app.command("reject")
def runs_reject(
    ctx: typer.Context,
    run_id: RunIdArgument,
    reason: Annotated[
        str,
        typer.Option("--reason", metavar="TEXT", help="Why; the model reads it as the result."),
    ],
    pending: PendingArgument = None,
    *,
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a pending action (or all of them); the model is told why, and goes on."""
    from keel import Reject
    from keel._cli.runs import decide_run

    options = _runs_options(ctx, app, as_json)
    decide_run(options.app, run_id, pending, Reject(reason), as_json=options.as_json)


@runs_app.command("resume")
def runs_resume(
    ctx: typer.Context, run_id: RunIdArgument, app: AppOption = None, as_json: JsonOption = False
) -> None:
    """Continue a run whose process stopped, or whose decisions are all recorded."""
    from keel._cli.runs import resume_run

    options = _runs_options(ctx, app, as_json)
    resume_run(options.app, run_id, as_json=options.as_json)


@cli.command()
def tickets(
    app: AppOption = None,
    status: Annotated[
        str | None, typer.Option("--status", metavar="S", help="Only open or closed tickets.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show at most N.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List support tickets (opened when every model failed), most recent first."""
    from keel._cli.tickets import show_tickets

    show_tickets(app, status=status, limit=limit, as_json=as_json)


from keel._cli.audit import audit_app  # noqa: E402  (typer groups; their work is lazy)
from keel._cli.mcp import mcp_app  # noqa: E402

cli.add_typer(audit_app, name="audit")
cli.add_typer(mcp_app, name="mcp")

from keel._cli.feedback import feedback_app  # noqa: E402
from keel._cli.replay import replay_command  # noqa: E402
from keel._cli.traces import traces_app  # noqa: E402

cli.add_typer(traces_app, name="traces")
cli.add_typer(feedback_app, name="feedback")
cli.command("replay")(replay_command)

from keel._cli.orchestration import handoffs_app, route  # noqa: E402
from keel._cli.plans import plans_app  # noqa: E402

cli.command()(route)
cli.add_typer(handoffs_app, name="handoffs")
cli.add_typer(plans_app, name="plans")  # issue 9: keel plans [show ID]


@cli.command()
def serve(
    app: AppOption = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Server settings (.toml or .yaml): app, host, port, limits, API keys, stores.",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", metavar="HOST", help="Default: 127.0.0.1.")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", metavar="PORT", help="Default: 8000.")
    ] = None,
) -> None:
    """Serve the app over HTTP: Keel's API, an OpenAI-compatible /v1, docs at /docs."""
    from keel._cli.serve import serve as run_server

    run_server(app, config, host, port)


@cli.command()
def worker(
    app: AppOption = None,
    config: Annotated[
        str,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Settings (.toml or .yaml) with [temporal] and stores.redis_url.",
        ),
    ] = ...,  # pyright: ignore[reportArgumentType]
) -> None:
    """Run the app's agent runs as Temporal workflows; SIGTERM drains, then stops."""
    from keel._cli.worker import work

    work(app, config)


from keel._cli.guard import guard_app  # noqa: E402
from keel._cli.keys import keys_app  # noqa: E402

cli.add_typer(guard_app, name="guard")
cli.add_typer(keys_app, name="keys")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
