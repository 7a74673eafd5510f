"""Webhook triggers: a payload becomes a run's input; the delivery id is its run id.

Declare them on the app (`App(webhooks=[Webhook("tickets", "triage", …)])`); `keel serve`
takes deliveries at `POST /webhooks/{name}` (`keel.server.webhooks`), and
`fire_webhook` runs one from Python."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.exceptions import ConfigurationError

if TYPE_CHECKING:
    from keel.agent import Agent
    from keel.app import App
    from keel.principal import Principal
    from keel.result import RunResult

__all__ = ["Webhook", "WebhookCall", "check_webhooks", "fire_webhook", "webhook_call"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Webhook:
    """`template` is formatted with the payload's top-level fields (`{subject}`); without
    one, the agent reads the payload as JSON. `session_field` names a payload field whose
    value is the session id (one conversation per ticket, say)."""

    name: str
    agent: str
    template: str | None = None
    session_field: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookCall:
    """One delivery made ready to run: the agent, its input, and the ids that make it
    once-only (the run id derives from the hook and the delivery id)."""

    agent: Agent[Any]
    text: str
    run_id: str
    session_id: str | None


def webhook_call(app: App, hook: Webhook, payload: dict[str, Any], delivery_id: str) -> WebhookCall:
    """ConfigurationError when the hook's agent is unknown or the payload lacks a field
    its template uses."""
    digest = hashlib.sha256(f"{hook.name}/{delivery_id}".encode()).hexdigest()[:24]
    session = payload.get(hook.session_field) if hook.session_field else None
    return WebhookCall(
        app.agent(hook.agent),
        _render(hook, payload),
        f"hook-{digest}",
        None if session is None else str(session),
    )


async def fire_webhook(
    app: App,
    hook: Webhook,
    payload: dict[str, Any],
    *,
    delivery_id: str,
    principal: Principal | None = None,
) -> RunResult[Any]:
    """Run the hook's agent on one delivery; a repeated delivery id returns the stored run."""
    call = webhook_call(app, hook, payload, delivery_id)
    return await app.runner.run(
        call.agent, call.text, run_id=call.run_id, session_id=call.session_id, principal=principal
    )


def check_webhooks(hooks: Sequence[Webhook], agents: Collection[str]) -> None:
    """At app load: names unique and URL-safe, every hook's agent in the app."""
    names = [h.name for h in hooks]
    for hook in hooks:
        if not _NAME.fullmatch(hook.name):
            raise ConfigurationError(
                f"webhook name {hook.name!r}: use 1-64 letters, digits, '_', '-' or '.'"
            )
        if names.count(hook.name) > 1:
            raise ConfigurationError(f"two webhooks are named {hook.name!r}")
        if hook.agent not in agents:
            raise ConfigurationError(
                f"webhook {hook.name!r} runs agent {hook.agent!r}, which is not one of "
                f"{sorted(agents)}"
            )


def _render(hook: Webhook, payload: dict[str, Any]) -> str:
    if hook.template is None:
        return json.dumps(payload, sort_keys=True)
    try:
        return hook.template.format_map(payload)
    except KeyError as exc:
        raise ConfigurationError(
            f"webhook {hook.name!r}: the payload has no field {exc.args[0]!r} its template uses"
        ) from None
