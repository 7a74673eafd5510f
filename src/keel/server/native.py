"""Keel's own API: agents, sessions and their messages, runs and their decisions.

`POST /sessions/{id}/messages` runs the agent on one user message. With
`Accept: text/event-stream` (or `"stream": true`) the run's events arrive as SSE as they
happen; otherwise the answer comes back as JSON — or, past the request timeout, a 202
naming the run, which goes on and can be polled at `/runs/{id}`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from keel.events import RunEvent
from keel.memory.session import check_session_id
from keel.principal import Principal
from keel.runs.pending import Approve, Decision, Reject, RunStatus
from keel.server.content import require_json
from keel.server.events import message_json, result_json, sse, state_json
from keel.server.execution import RunWatch
from keel.server.limits import AdmissionQueue
from keel.server.problems import Problem
from keel.server.scopes import current_scope
from keel.server.state import CurrentPrincipal, ServerState, State

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_json)])

SessionId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(_Body):
    input: str = Field(
        min_length=1, max_length=200_000, pattern=r"\S", description="The user's message."
    )
    agent: str | None = Field(default=None, description="Which agent; default: the app's.")
    run_id: SessionId | None = Field(
        default=None, description="Idempotency: a repeat with the same id returns that run."
    )
    stream: bool = Field(default=False, description="Answer with SSE events.")


class DecisionIn(_Body):
    pending_id: str | None = Field(default=None, description="Default: every undecided one.")


class RejectIn(DecisionIn):
    reason: str = Field(min_length=1, max_length=10_000)


# -- agents and sessions ----------------------------------------------------------------


@router.get("/agents", tags=["agents"])
async def list_agents(state: State, principal: CurrentPrincipal) -> dict[str, Any]:
    app = state.app
    agents = [{"name": a.name, "default": a is app.agent()} for a in app.agents]
    return {"agents": agents}


@router.post("/sessions", status_code=201, tags=["sessions"])
async def new_session(principal: CurrentPrincipal) -> dict[str, str]:
    """A fresh session id; the session is stored with its first message."""
    return {"session_id": uuid.uuid4().hex}


@router.get("/sessions", tags=["sessions"])
async def list_sessions(
    state: State, principal: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, list[str]]:
    ids = await state.app.session_store.list_ids(tenant_id=principal.tenant_id, limit=limit)
    return {"sessions": ids}


@router.get("/sessions/{session_id}/messages", tags=["sessions"])
async def session_messages(
    session_id: str, state: State, principal: CurrentPrincipal
) -> dict[str, Any]:
    check_session_id(session_id)
    store = state.app.session_store
    messages = await store.load(session_id, tenant_id=principal.tenant_id)
    return {"session_id": session_id, "messages": [message_json(m) for m in messages]}


@router.delete("/sessions/{session_id}", status_code=204, tags=["sessions"])
async def delete_session(session_id: str, state: State, principal: CurrentPrincipal) -> None:
    await state.app.session_store.clear(session_id, tenant_id=principal.tenant_id)


@router.post(
    "/sessions/{session_id}/messages",
    tags=["sessions"],
    responses={200: {"content": {"text/event-stream": {}}}, 202: {}, 429: {}},
)
async def post_message(
    session_id: str, body: MessageIn, request: Request, state: State, principal: CurrentPrincipal
) -> Any:
    """Run the agent on `input` in this session: JSON, or SSE events when streaming."""
    check_session_id(session_id)
    agent = state.agent(body.agent)
    streaming = body.stream or "text/event-stream" in request.headers.get("accept", "")
    queue = state.queue_for(agent)
    await queue.__aenter__()  # 429 here, before anything is stored
    if state.temporal is not None:
        watch = await _start_remote(
            state, body, session_id=session_id, agent=agent.name, principal=principal, queue=queue
        )
    else:
        runner = state.app.runner
        events = lambda: runner.stream(  # noqa: E731
            agent,
            body.input,
            session_id=session_id,
            run_id=body.run_id,
            principal=principal,
            deltas=streaming,  # a JSON answer needs no text deltas: one whole model call
        )
        watch = state.runs.start(_released(events, queue))
    if streaming:
        return _sse_response(watch)
    return await _json_outcome(watch, state.settings.request_timeout_s, body.run_id)


async def _start_remote(
    state: ServerState,
    body: MessageIn,
    *,
    session_id: str,
    agent: str,
    principal: Principal,
    queue: AdmissionQueue,
) -> RunWatch:
    from keel.worker.wire import RunRequest, scope_fields

    assert state.temporal is not None
    request = RunRequest(
        run_id=body.run_id or uuid.uuid4().hex,
        agent=agent,
        input=body.input,
        session_id=session_id,
        user_id=principal.user_id,
        tenant_id=principal.tenant_id,
        roles=sorted(principal.roles),
        activity_timeout_s=state.settings.temporal.activity_timeout_s,  # pyright: ignore[reportOptionalMemberAccess]
        **scope_fields(current_scope.get()),  # the key's scope travels to the worker
    )
    try:
        remote = await state.temporal.start(request)
    except BaseException:
        await queue.__aexit__(None, None, None)
        raise
    state.runs.watch(remote.handle.result(), queue)
    return remote


def _released(events: Any, queue: Any) -> Any:
    async def run() -> AsyncIterator[RunEvent]:
        try:
            async for event in events():
                yield event
        finally:
            await queue.__aexit__(None, None, None)

    return run


def _sse_response(watch: RunWatch) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        async for name, data in watch.wire_events():
            yield sse(name, data)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


async def _json_outcome(watch: RunWatch, timeout: float, run_id: str | None) -> Any:
    try:
        return await watch.outcome(timeout)
    except TimeoutError:
        detail = {"status": "running", "run_id": run_id, "detail": "poll /runs/{run_id}"}
        return JSONResponse(detail, status_code=202)


# -- runs ------------------------------------------------------------------------------


@router.get("/runs", tags=["runs"])
async def list_runs(
    state: State,
    principal: CurrentPrincipal,
    status: RunStatus | None = None,
    session_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    store = state.app.run_store
    states = await store.list_runs(
        tenant_id=principal.tenant_id, status=status, session_id=session_id, limit=limit
    )
    return {"runs": [state_json(s) for s in states]}


@router.get("/runs/{run_id}", tags=["runs"])
async def get_run(run_id: str, state: State, principal: CurrentPrincipal) -> dict[str, Any]:
    if state.temporal is not None:
        return await _remote_state(state, run_id)
    return state_json(await state.app.runner.get_run(run_id, principal=principal))


async def _remote_state(state: ServerState, run_id: str) -> dict[str, Any]:
    assert state.temporal is not None
    found = await state.temporal.state(run_id)
    if found is None:
        raise Problem(404, f"no run with id {run_id!r}")
    return {"run_id": run_id, **found}


@router.get("/runs/{run_id}/pending", tags=["runs"])
async def run_pending(run_id: str, state: State, principal: CurrentPrincipal) -> dict[str, Any]:
    if state.temporal is not None:
        found = await _remote_state(state, run_id)
        return {"run_id": run_id, "pending": found["pending"], "undecided": found["undecided"]}
    stored = await state.app.runner.get_run(run_id, principal=principal)
    return {
        "run_id": run_id,
        "pending": state_json(stored)["pending"],
        "undecided": [p.id for p in stored.undecided],
    }


@router.post("/runs/{run_id}/approve", tags=["runs"])
async def approve_run(
    run_id: str, state: State, principal: CurrentPrincipal, body: DecisionIn | None = None
) -> dict[str, Any]:
    """Approve one pending action (or all); the run goes on once none is left."""
    pending_id = body.pending_id if body else None
    return await _decide(state, principal, run_id, pending_id, Approve())


@router.post("/runs/{run_id}/reject", tags=["runs"])
async def reject_run(
    run_id: str, body: RejectIn, state: State, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Reject one pending action (or all); the model reads the reason and goes on."""
    return await _decide(state, principal, run_id, body.pending_id, Reject(body.reason))


@router.post("/runs/{run_id}/resume", tags=["runs"])
async def resume_run(run_id: str, state: State, principal: CurrentPrincipal) -> dict[str, Any]:
    """Continue a run whose process stopped, or whose decisions are all recorded."""
    result = await state.app.runner.resume(run_id, principal=principal)
    return result_json(result)


async def _decide(
    state: ServerState, principal: Principal, run_id: str, pending_id: str | None, d: Decision
) -> dict[str, Any]:
    if state.temporal is not None:
        return await _decide_remote(state, run_id, pending_id, d)
    runner = state.app.runner
    stored = await runner.get_run(run_id, principal=principal)
    undecided = [p.id for p in stored.undecided]
    if pending_id is not None and pending_id not in {p.id for p in stored.pending}:
        raise Problem(404, f"run {run_id!r} has no pending action {pending_id!r}")
    chosen = [pending_id] if pending_id is not None else undecided
    if not chosen:
        raise Problem(409, f"run {run_id!r} has no undecided pending action")
    result = await runner.resume(run_id, decisions=dict.fromkeys(chosen, d), principal=principal)
    return result_json(result)


async def _decide_remote(
    state: ServerState, run_id: str, pending_id: str | None, decision: Decision
) -> dict[str, Any]:
    """A run on a worker waits for a `decide` signal; it goes on once all are decided."""
    assert state.temporal is not None
    if pending_id is None:
        raise Problem(422, "pending_id: name the pending action (runs on workers)")
    reason = decision.reason if isinstance(decision, Reject) else ""
    await state.temporal.decide(run_id, pending_id, isinstance(decision, Approve), reason)
    return {"run_id": run_id, "pending_id": pending_id, "decision": decision.kind}
