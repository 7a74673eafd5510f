"""`POST /webhooks/{name}`: a delivery of one of the app's webhooks runs its agent once.

The body is the payload (a JSON object). The sender names the delivery with an
`Idempotency-Key` or `X-Delivery-Id` header; the run id derives from it, so a retried
delivery gets the stored run back instead of a second run (or a 202 while the first is
still running). The run acts for the caller's API key, goes through admission like any
message, and answers as `POST /sessions/{id}/messages` does: the run's JSON, or past the
request timeout a 202 naming the run to poll at `/runs/{id}`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from keel.events import RunEvent
from keel.exceptions import ConfigurationError, RunNotFoundError
from keel.principal import Principal
from keel.server.content import require_json
from keel.server.problems import Problem
from keel.server.state import CurrentPrincipal, ServerState, State
from keel.triggers.webhook import Webhook, WebhookCall, webhook_call

__all__ = ["DELIVERY_HEADERS", "router"]

router = APIRouter(tags=["webhooks"], dependencies=[Depends(require_json)])

DELIVERY_HEADERS = ("Idempotency-Key", "X-Delivery-Id")
_DELIVERY = re.compile(r"^[\x21-\x7e]{1,200}$")


@router.post("/webhooks/{name}", responses={202: {}, 404: {}, 409: {}, 429: {}})
async def receive_webhook(
    name: str,
    payload: Annotated[dict[str, Any], Body(description="The webhook's payload.")],
    request: Request,
    state: State,
    principal: CurrentPrincipal,
) -> Any:
    """Run the webhook's agent on this delivery, once per delivery id."""
    hook = _hook(state, name)
    delivery = _delivery_id(request)
    try:
        call = webhook_call(state.app, hook, payload, delivery)
    except ConfigurationError as exc:  # the payload lacks a field the template uses
        raise Problem(422, str(exc)) from None
    if await _still_running(state, call.run_id, principal):
        return _accepted(call.run_id)
    queue = state.queue_for(call.agent)
    await queue.__aenter__()  # 429 here, before anything is stored
    watch = state.runs.start(_events(state, call, principal, queue))
    try:
        return await watch.outcome(state.settings.request_timeout_s)
    except TimeoutError:
        return _accepted(call.run_id)


def _hook(state: ServerState, name: str) -> Webhook:
    hook = next((h for h in state.app.webhooks if h.name == name), None)
    if hook is None:
        known = ", ".join(sorted(h.name for h in state.app.webhooks)) or "none"
        raise Problem(404, f"no webhook named {name!r} (this app has: {known})")
    return hook


def _delivery_id(request: Request) -> str:
    value = next((v for h in DELIVERY_HEADERS if (v := request.headers.get(h))), None)
    if value is None or not _DELIVERY.fullmatch(value):
        headers = " or ".join(DELIVERY_HEADERS)
        problem = "is missing" if value is None else "must be 1-200 printable characters"
        raise Problem(400, f"the delivery id {problem}: send it as {headers}")
    return value


async def _still_running(state: ServerState, run_id: str, principal: Principal) -> bool:
    try:
        stored = await state.app.run_store.load(run_id, tenant_id=principal.tenant_id)
    except RunNotFoundError:
        return False
    return stored.status == "running"


def _accepted(run_id: str) -> JSONResponse:
    detail = {"status": "running", "run_id": run_id, "detail": f"poll /runs/{run_id}"}
    return JSONResponse(detail, status_code=202)


def _events(state: ServerState, call: WebhookCall, principal: Principal, queue: Any) -> Any:
    runner = state.app.runner

    async def run() -> AsyncIterator[RunEvent]:
        try:
            async for event in runner.stream(
                call.agent,
                call.text,
                session_id=call.session_id,
                run_id=call.run_id,
                principal=principal,
            ):
                yield event
        finally:
            await queue.__aexit__(None, None, None)

    return run
