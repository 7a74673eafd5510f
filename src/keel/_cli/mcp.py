"""`keel mcp serve`: an app's tools as an MCP server (stdio, or streamable HTTP).

Registered in `keel.cli` with one line; the SDK is imported when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["mcp_app"]

mcp_app = typer.Typer(
    help="Model Context Protocol: serve an app's tools to MCP hosts.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@mcp_app.command("serve")
def mcp_serve(
    *,
    app: Annotated[
        str | None,
        typer.Option("--app", metavar="MODULE:ATTR", help="The app whose tools to serve."),
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", metavar="NAME", help="Which agent's tools.")
    ] = None,
    http: Annotated[
        int | None,
        typer.Option(
            "--http",
            metavar="PORT",
            min=1,
            max=65535,
            help="Serve streamable HTTP on this port (at /mcp) instead of stdio.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", metavar="ADDR", help="Address for --http.")
    ] = "127.0.0.1",
    user: Annotated[
        str | None, typer.Option("--user", metavar="ID", help="Act as this user.")
    ] = None,
    tenant: Annotated[
        str, typer.Option("--tenant", metavar="ID", help="Act in this tenant.")
    ] = "default",
    role: Annotated[
        list[str] | None,
        typer.Option("--role", metavar="ROLE", help="A role of the caller (repeatable)."),
    ] = None,
) -> None:
    """Serve the app's tools over MCP; every call passes the tool gateway (policies, audit).

    Over stdio nothing but protocol messages is written to stdout.
    """
    import asyncio

    from keel._cli.errors import reported
    from keel._cli.target import load_app_from_cwd
    from keel._cli.ui import stderr_console
    from keel.principal import Principal

    with reported(stderr_console()):
        principal = Principal(user, tenant, frozenset(role or ()))
        from keel.mcp.server import AppToolServer

        server = AppToolServer(load_app_from_cwd(app), agent=agent, principal=principal)
        if http is None:
            asyncio.run(server.serve_stdio())
        else:
            stderr_console().print(f"serving MCP on http://{host}:{http}/mcp", highlight=False)
            asyncio.run(server.serve_http(host, http))
