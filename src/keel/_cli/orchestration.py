"""`keel route` and `keel handoffs`: the router's decision, and the human queue.

Typer definitions only; the work is imported when a command runs (see `_cli/desk.py`).
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["handoffs_app", "route"]

DESK_APP = "keel.examples.support_desk:app"

_App = Annotated[
    str | None,
    typer.Option(
        "--app",
        metavar="MODULE:ATTR",
        help=f"The app whose router or queue to use. Default: {DESK_APP}.",
    ),
]
_Json = Annotated[bool, typer.Option("--json", metavar="", help="Print it as JSON.")]
_Id = Annotated[str, typer.Argument(metavar="ID", help="The handoff's id (see `keel handoffs`).")]
_As = Annotated[str, typer.Option("--as", metavar="NAME", help="Who you are (recorded).")]


def route(
    text: Annotated[str, typer.Argument(metavar="MESSAGE", help="The customer message to route.")],
    app: _App = None,
    as_json: _Json = False,
) -> None:
    """Show every route's score and threshold, and where the message would go."""
    from keel._cli.desk import show_route

    show_route(app or DESK_APP, text, as_json=as_json)


handoffs_app = typer.Typer(
    help="The human handoff queue: list, show, claim, reply, hand back.",
    no_args_is_help=False,
    rich_markup_mode=None,
)


@handoffs_app.callback(invoke_without_command=True)
def handoffs(
    ctx: typer.Context,
    app: _App = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", metavar="S", help="Only items that are open, claimed or returned."
        ),
    ] = None,
    as_json: _Json = False,
) -> None:
    """List conversations handed to people, oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    from keel._cli.desk import list_handoffs

    list_handoffs(app or DESK_APP, status, as_json=as_json)


@handoffs_app.command("show")
def handoffs_show(handoff_id: _Id, app: _App = None, as_json: _Json = False) -> None:
    """Show one item: reason, summary, trace id, transcript and what was said since."""
    from keel._cli.desk import show_handoff

    show_handoff(app or DESK_APP, handoff_id, as_json=as_json)


@handoffs_app.command("claim")
def handoffs_claim(handoff_id: _Id, who: _As, app: _App = None) -> None:
    """Take an open item; of two people claiming it, exactly one gets it."""
    from keel._cli.desk import change_handoff

    change_handoff(app or DESK_APP, handoff_id, "claim", who)


@handoffs_app.command("reply")
def handoffs_reply(
    handoff_id: _Id,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="What to tell the customer.")],
    who: _As,
    app: _App = None,
) -> None:
    """Answer the customer; the reply joins their conversation."""
    from keel._cli.desk import reply_handoff

    reply_handoff(app or DESK_APP, handoff_id, text, who)


@handoffs_app.command("handback")
def handoffs_handback(handoff_id: _Id, who: _As, app: _App = None) -> None:
    """Give the conversation back to the agents; exactly one hand-back takes effect."""
    from keel._cli.desk import change_handoff

    change_handoff(app or DESK_APP, handoff_id, "handback", who)
