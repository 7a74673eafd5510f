"""Webhook triggers: a payload becomes a run's input; the delivery id is its run id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from keel.app import App
from keel.exceptions import ConfigurationError
from keel.result import RunResult

__all__ = ["Webhook", "fire_webhook"]


@dataclass(frozen=True, slots=True)
class Webhook:
    """`template` is formatted with the payload's top-level fields (`{subject}`); without
    one, the agent reads the payload as JSON. `session_field` names a payload field whose
    value is the session id (one conversation per ticket, say)."""

    name: str
    agent: str
    template: str | None = None
    session_field: str | None = None


async def fire_webhook(
    app: App, hook: Webhook, payload: dict[str, Any], *, delivery_id: str
) -> RunResult[Any]:
    """Run the hook's agent on one delivery; a repeated delivery id returns the stored run."""
    agent = app.agent(hook.agent)
    text = _render(hook, payload)
    digest = hashlib.sha256(f"{hook.name}/{delivery_id}".encode()).hexdigest()[:24]
    session = payload.get(hook.session_field) if hook.session_field else None
    return await app.runner.run(
        agent,
        text,
        run_id=f"hook-{digest}",
        session_id=None if session is None else str(session),
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
