"""The work behind `keel route` and `keel handoffs` (see `_cli/orchestration.py`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, get_args

from rich.table import Table

from keel._cli.errors import USAGE_ERROR, CliError, reported
from keel._cli.target import load_app_from_cwd
from keel._cli.ui import one_line, print_note, stderr_console, stdout_console
from keel.app import App
from keel.handoffs.human.store import HandoffItem, HandoffNotFoundError, HandoffStatus, HumanQueue
from keel.messages import Message
from keel.routing import Routing, SemanticRouter

__all__ = ["change_handoff", "list_handoffs", "reply_handoff", "show_handoff", "show_route"]


def _router(app: App, path: str) -> SemanticRouter:
    for agent in app.agents:
        for layer in agent.middleware:
            if isinstance(layer, Routing):
                return layer.router
    raise CliError(f"app {path!r} has no router (no agent uses Routing)", code=USAGE_ERROR)


def show_route(path: str, text: str, *, as_json: bool) -> None:
    with reported(stderr_console()):
        if not text.strip():
            raise CliError("the message is empty: give the text to route", code=USAGE_ERROR)
        router = _router(load_app_from_cwd(path), path)
        decision = asyncio.run(router.route(text))
        record = decision.record()
        record["agent"] = router.target(decision.route) if decision.route else None
        if as_json:
            stdout_console().print_json(json.dumps(record))
            return
        table = Table("route", "score", "threshold", box=None)
        for name, score in sorted(decision.scores.items(), key=lambda kv: -kv[1]):
            table.add_row(name, f"{score:.3f}", f"{decision.thresholds[name]:.3f}")
        out = stdout_console()
        out.print(table)
        where = record["agent"] or (f"ask: {decision.question}" if decision.question else "none")
        out.print(f"decision: {decision.decision} → {where}")


def _queue(path: str) -> tuple[App, HumanQueue]:
    app = load_app_from_cwd(path)
    store: Any = app.session_store
    return app, HumanQueue(store.db)


def list_handoffs(path: str, status: str | None, *, as_json: bool) -> None:
    with reported(stderr_console()):
        statuses: tuple[str, ...] = get_args(HandoffStatus)
        if status is not None and status not in statuses:
            raise CliError(f"--status must be one of {', '.join(statuses)}", code=USAGE_ERROR)
        _, queue = _queue(path)
        items = queue.list(status=status)  # type: ignore[arg-type]
        if as_json:
            stdout_console().print_json(json.dumps([i.to_json() for i in items]))
            return
        if not items:
            print_note(stderr_console(), "no handoffs")
            return
        table = Table("id", "status", "trigger", "session", "claimed by", "reason", box=None)
        for i in items:
            table.add_row(i.id, i.status, i.trigger, i.session_id or "-", i.claimed_by or "-",
                          one_line(i.reason))  # fmt: skip
        stdout_console().print(table)


def _get(queue: HumanQueue, handoff_id: str) -> HandoffItem:
    try:
        return queue.get(handoff_id)
    except HandoffNotFoundError as exc:
        raise CliError(str(exc), code=USAGE_ERROR) from None


def show_handoff(path: str, handoff_id: str, *, as_json: bool) -> None:
    with reported(stderr_console()):
        _, queue = _queue(path)
        item = _get(queue, handoff_id)
        if as_json:
            stdout_console().print_json(json.dumps(item.to_json()))
            return
        out = stdout_console()
        out.print(f"{item.id} · {item.status} · {item.trigger} · session {item.session_id}")
        out.print(f"reason: {item.reason}\nsummary: {item.summary}\ntrace: {item.trace_id}")
        for line in item.transcript:
            out.print(f"  {line['agent'] or line['role']}: {one_line(line['text'])}")
        for message in item.messages:
            out.print(f"  {message['author']} (after handoff): {one_line(message['text'])}")


def change_handoff(path: str, handoff_id: str, action: str, who: str) -> None:
    with reported(stderr_console()):
        _, queue = _queue(path)
        _get(queue, handoff_id)
        item = (
            queue.claim(handoff_id, who) if action == "claim" else queue.hand_back(handoff_id, who)
        )
        stdout_console().print(f"{item.id} is {item.status} ({who})")


def reply_handoff(path: str, handoff_id: str, text: str, who: str) -> None:
    with reported(stderr_console()):
        if not text.strip():
            raise CliError("the reply is empty", code=USAGE_ERROR)
        app, queue = _queue(path)
        item = _get(queue, handoff_id)
        if item.status != "claimed" or item.claimed_by != who:
            raise CliError(
                f"claim {handoff_id!r} first (`keel handoffs claim {handoff_id} --as {who}`); "
                f"it is {item.status}" + (f" by {item.claimed_by}" if item.claimed_by else "")
            )
        queue.add_message(handoff_id, who, text, tenant_id=item.tenant_id)
        if item.session_id is not None:
            reply = Message("assistant", Message.assistant(text).parts, f"human:{who}")
            asyncio.run(
                app.session_store.append(item.session_id, [reply], tenant_id=item.tenant_id)
            )
        stdout_console().print(f"sent to session {item.session_id}")
