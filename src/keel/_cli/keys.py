"""`keel keys create|list|revoke`: API keys in the app's database (hashes only): its
SQLite file, or for a PostgreSQL app its PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from keel.security.keys import ApiKey, ApiKeyStore
    from keel.storage.postgres_keys import PostgresApiKeyStore

T = TypeVar("T")

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Create, list and revoke API keys (only their hashes are stored).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_App = Annotated[
    str | None,
    typer.Option("--app", metavar="MODULE:ATTR", help="The app whose database holds the keys."),
]
_Tenant = Annotated[str, typer.Option("--tenant", metavar="ID", help="The key's tenant.")]
_Json = Annotated[bool, typer.Option("--json", metavar="", help="Print it as JSON.")]
_User = Annotated[str | None, typer.Option("--user", metavar="ID", help="Act as this user.")]
_Roles = Annotated[list[str] | None, typer.Option("--role", metavar="ROLE", help="Repeatable.")]
_Agents = Annotated[
    list[str] | None,
    typer.Option("--agent", metavar="NAME", help="Only these agents (repeatable)."),
]
_Tools = Annotated[
    list[str] | None,
    typer.Option("--tool", metavar="NAME", help="Only these tools (repeatable)."),
]
_ExpiresDays = Annotated[
    float | None, typer.Option("--expires-days", metavar="N", help="Expire after N days.")
]


def _store(app_path: str | None) -> ApiKeyStore | PostgresApiKeyStore:
    from keel._cli.errors import CliError
    from keel.app import DEFAULT_APP, load_app
    from keel.security.keys import app_key_store

    store = app_key_store(load_app(app_path or DEFAULT_APP))
    if store is None:
        raise CliError("this app's database is ':memory:': it keeps no keys", code=2)
    return store


def _done(result: T | Coroutine[Any, Any, T]) -> T:
    """The result of a SQLite store's call, or of a PostgreSQL store's coroutine."""
    if isinstance(result, Coroutine):
        return asyncio.run(result)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    return result


def _json(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "tenant": key.tenant_id,
        "user": key.user_id,
        "name": key.name,
        "roles": list(key.roles),
        "agents": key.agents,
        "tools": key.tools,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "status": key.status(time.time()),
    }


@keys_app.command("create")
def keys_create(
    *,
    name: Annotated[str, typer.Option("--name", metavar="TEXT", help="What the key is for.")],
    tenant: _Tenant = "default",
    user: _User = None,
    role: _Roles = None,
    agent: _Agents = None,
    tool: _Tools = None,
    expires_days: _ExpiresDays = None,
    app: _App = None,
    as_json: _Json = False,
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    from keel._cli.errors import CliError, reported
    from keel._cli.ui import stderr_console

    with reported(stderr_console()):
        try:
            plain, key = _done(
                _store(app).create(
                    tenant_id=tenant,
                    name=name,
                    user_id=user,
                    roles=role or (),
                    agents=agent,
                    tools=tool,
                    expires_in_s=None if expires_days is None else expires_days * 86400,
                )
            )
        except ValueError as exc:
            raise CliError(str(exc), code=2) from None
    if as_json:
        typer.echo(json.dumps({"key": plain, **_json(key)}))
    else:
        typer.echo(plain)
        typer.echo(
            f"id {key.id}, tenant {key.tenant_id}: store it now, it is not shown again", err=True
        )


@keys_app.command("list")
def keys_list(
    tenant: Annotated[
        str | None, typer.Option("--tenant", metavar="ID", help="Only this tenant.")
    ] = None,
    app: _App = None,
    as_json: _Json = False,
) -> None:
    """List keys (never their secrets)."""
    from keel._cli.errors import reported
    from keel._cli.ui import stderr_console

    with reported(stderr_console()):
        keys = _done(_store(app).list(tenant_id=tenant))
    if as_json:
        typer.echo(json.dumps([_json(k) for k in keys]))
        return
    for key in keys:
        j = _json(key)
        typer.echo(
            f"{key.id}  {j['status']:8} {key.tenant_id:12} {key.user_id or '-':12} {key.name}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (keel keys list).")],
    tenant: _Tenant = "default",
    app: _App = None,
) -> None:
    """Revoke a key; it stops working at once."""
    from keel._cli.errors import CliError, reported
    from keel._cli.ui import stderr_console
    from keel.security.keys import InvalidApiKey

    with reported(stderr_console()):
        try:
            key = _done(_store(app).revoke(key_id, tenant_id=tenant))
        except InvalidApiKey as exc:
            raise CliError(str(exc), code=2) from None
    typer.echo(f"revoked {key.id} ({key.name})")
