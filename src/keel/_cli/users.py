"""`keel users delete USER`: remove everything an app stores about one user."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer

from keel.principal import DEFAULT_TENANT

if TYPE_CHECKING:
    from keel.app import App
    from keel.memory.retention import DeletionReport
    from keel.principal import Principal


__all__ = ["users_app"]

users_app = typer.Typer(
    help="Users' data: delete everything stored about a user.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@users_app.command("delete")
def delete(
    user: Annotated[str, typer.Argument(metavar="USER", help="The user's id.")],
    *,
    tenant: Annotated[
        str, typer.Option("--tenant", metavar="ID", help="The user's tenant (default: default).")
    ] = DEFAULT_TENANT,
    app: Annotated[
        str | None, typer.Option("--app", metavar="MODULE:ATTR", help="Use this app's database.")
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="PATH",
            help="The server's settings (.toml or .yaml): with stores.redis_url, the "
            "user's cached session histories are dropped from Redis too.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print it as JSON.")] = False,
) -> None:
    """Delete the user's sessions, summaries, runs and memory (vectors included)."""
    from keel._cli.errors import reported
    from keel._cli.ui import stderr_console

    with reported(stderr_console()):
        report = _delete_everywhere(user, tenant, app, config)
    if as_json:
        data = {"tenant": tenant, "user": user, "deleted": report.deleted}
        typer.echo(json.dumps(data, indent=2))
        return
    parts = ", ".join(f"{n} {table}" for table, n in report.deleted.items() if n)
    typer.echo(f"deleted {user}@{tenant}: {parts or 'nothing was stored'}")


def _delete_everywhere(
    user: str, tenant: str, app_path: str | None, config: str | None
) -> DeletionReport:
    from keel._cli.target import load_app_from_cwd
    from keel.exceptions import ConfigurationError
    from keel.principal import Principal

    try:
        principal = Principal(user_id=user, tenant_id=tenant)
    except ConfigurationError as exc:
        raise ConfigurationError(str(exc).replace("Principal.", "")) from None
    target = load_app_from_cwd(app_path)
    return asyncio.run(_delete_user(target, principal, config))


async def _delete_user(app: App, principal: Principal, config: str | None) -> DeletionReport:
    """With the server's Redis session cache attached (`--config` with stores.redis_url),
    deleting also drops the user's cached histories; its connection is closed after."""
    from keel.server.config import load_settings
    from keel.storage.redis_sessions import cache_sessions

    redis_url = load_settings(config).stores.redis_url if config else None
    cache = cache_sessions(app, redis_url) if redis_url is not None else None
    try:
        return await app.delete_user(principal)
    finally:
        if cache is not None:
            await cache.close()
