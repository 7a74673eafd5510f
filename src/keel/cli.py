"""`keel`: chat with an agent, ask it one question, list models and sessions.

    keel chat [--app pkg.module:attr] [--agent NAME] [--session ID]
    keel run "question" [--json]          (`-` reads the question from stdin)
    keel models
    keel sessions [--limit N] [--clear ID]

The work happens in `keel._cli`, imported by each command when it runs, so that
`keel --version` and `keel --help` start quickly.
"""

from __future__ import annotations

from typing import Annotated

import typer

import keel

__all__ = ["cli", "main"]

cli = typer.Typer(
    name="keel",
    help="Keel: a production runtime for LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold keys and user data
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
    app: AppOption = None,
    agent: AgentOption = None,
    session: SessionOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print output, usage, session_id and run_id as JSON.")
    ] = False,
) -> None:
    """Ask one question and print the answer (saved as a session you can continue)."""
    from keel._cli.oneshot import run_once

    run_once(question, app_path=app, agent_name=agent, session_id=session, as_json=as_json)


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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
