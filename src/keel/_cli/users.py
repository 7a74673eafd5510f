"""`keel users delete USER`: remove everything an app stores about one user."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer

from keel.principal import DEFAULT_TENANT

if TYPE_CHECKING:
    from keel.app import App
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
    from keel._cli.target import load_app_from_cwd
    from keel._cli.ui import stderr_console
    from keel.exceptions import ConfigurationError
    from keel.memory.retention import delete_user
    from keel.principal import Principal
    from keel.storage import SQLiteDatabase

    with reported(stderr_console()):
        try:
            principal = Principal(user_id=user, tenant_id=tenant)
        except ConfigurationError as exc:
            raise ConfigurationError(str(exc).replace("Principal.", "")) from None
        target = load_app_from_cwd(app)
        deleted = delete_user(SQLiteDatabase(target.database_path), principal).deleted
        if target.database_url is not None:  # sessions and runs live in PostgreSQL
            _cache_sessions(target, config)
            for table, n in _delete_in_postgres(target, principal).items():
                deleted[table] = deleted.get(table, 0) + n
    if as_json:
        data = {"tenant": tenant, "user": user, "deleted": deleted}
        typer.echo(json.dumps(data, indent=2))
        return
    parts = ", ".join(f"{n} {table}" for table, n in deleted.items() if n)
    typer.echo(f"deleted {user}@{tenant}: {parts or 'nothing was stored'}")


def _cache_sessions(app: App, config: str | None) -> None:
    """Attach the server's Redis session cache so deleting drops the cached histories."""
    from keel.server.config import load_settings
    from keel.storage.redis_sessions import cache_sessions

    redis_url = load_settings(config).stores.redis_url if config else None
    if redis_url is not None:
        cache_sessions(app, redis_url)


def _delete_in_postgres(app: App, principal: Principal) -> dict[str, int]:
    """A PostgreSQL app's sessions and runs of the user. Without the server's Redis URL
    (`--config`), cached histories stay in Redis until their TTL, but can no longer be
    served (a load checks the session's row first)."""
    from keel.storage.postgres_sessions import PostgresSessionStore

    store = app.session_store
    assert isinstance(store, PostgresSessionStore)
    user = principal.user_id or ""
    return asyncio.run(store.delete_user(user, tenant_id=principal.tenant_id))
