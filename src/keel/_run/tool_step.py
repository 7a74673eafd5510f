"""The tool step of a durable run: every call settled exactly once, or left for a person.

Each call of the model's response has a record (`planned → started → finished`, or
`suspended`). Settling a record, on the first pass or after a resume:

- finished: its result stands; the tool is never run again;
- planned: run it through the middleware chain;
- started but not finished (the process died while it ran): run it again only if the
  tool is idempotent or read-only — with the same idempotency key — otherwise stop with
  `needs_attention`, naming the call, and let a person decide;
- suspended: run it once approved; a rejection becomes the tool's result, the reason
  passing the input middleware like any text a person writes (a tool with an
  `on_rejected(arguments, ctx, decision)` method hears of it first, e.g. a plan).

When every call has a result they are appended as one tool message; until then the run
suspends with its pending actions.
"""

from __future__ import annotations

import asyncio

from keel._run.active import ActiveRun
from keel._run.handoff import take_handoff
from keel._run.usage import count_tool_call
from keel.context import RunContext
from keel.events import (
    Handoff,
    MiddlewareDecision,
    RunEvent,
    ToolCallFinished,
    ToolCallStarted,
)
from keel.messages import Message, ToolResultPart
from keel.middleware import Respond, SuspendRun, ToolCall
from keel.runs.pending import Approve, DecisionRecord, PendingAction, Reject
from keel.runs.state import CallRecord

__all__ = ["pending_id", "settle_tool_step", "started_events"]

_ATTENTION = (
    "{tool} started but did not finish (the process stopped) and it is not declared "
    "idempotent, so Keel will not run it again on its own: approve to run it again, "
    "reject to tell the model it did not happen"
)


def pending_id(step: int, index: int, record: CallRecord) -> str:
    """`s2c1`: step 2, call 1 — for an approval; `s2c1a1` — after attempt 1 was cut off.

    An interrupted call gets a new id per attempt, so approving one retry never
    approves the next.
    """
    base = f"s{step}c{index + 1}"
    return f"{base}a{record.attempts}" if record.status == "started" else base


def started_events(run: ActiveRun) -> list[RunEvent]:
    """Told before any call of the step runs."""
    if not run.observed:
        return []
    return [ToolCallStarted(run.context, r.call) for r in run.state.calls if r.result is None]


async def settle_tool_step(run: ActiveRun) -> list[RunEvent]:
    """Settle every unfinished call, then close the step; the events that report it."""
    ctx = run.context
    todo = [r for r in run.state.calls if r.status != "finished"]
    calls = await _settle_all(run, todo)
    handoff = await _close_step(run)
    events: list[RunEvent] = []
    if not run.observed:
        return events
    for record, call in zip(todo, calls, strict=True):
        if record.result is not None:
            events.append(ToolCallFinished(ctx, record.call, record.result))
        events.extend(_decision_events(run, record, call))
    if handoff is not None:
        events.append(handoff)
    return events


async def _settle_all(run: ActiveRun, todo: list[CallRecord]) -> list[ToolCall | None]:
    if len(todo) == 1:  # the common case, without the cost of a task per call
        return [await _settle(run, todo[0])]
    tasks = [asyncio.ensure_future(_settle(run, r)) for r in todo]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:  # one call failed the run: the others must not go on alone
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _settle(run: ActiveRun, record: CallRecord) -> ToolCall | None:
    """Bring one record to a result, or leave it waiting; returns the call it ran."""
    index = next(i for i, r in enumerate(run.state.calls) if r is record)
    approved = False if record.status == "planned" else await _decided(run, record, index)
    if approved is None:
        return None
    if not approved:  # an approved call was counted when it was first asked for
        count_tool_call(run.context.usage, run.agent.limits)
    call = _tool_call(run, record, index, approved)
    try:
        result = await run.pipeline.tool(call)
    except SuspendRun as suspension:
        record.status = "suspended"
        _add_pending(run, record, index, suspension.reason, suspension.middleware)
        return call
    await _finish(run, record, result)
    return call


async def _decided(run: ActiveRun, record: CallRecord, index: int) -> bool | None:
    """For a call that is not simply planned: run it approved (True), as usual (False),
    or not now (None)."""
    if record.status == "started" and run.may_rerun(record.call.tool_name):
        return False
    decision = run.state.decision_for(pending_id(run.state.step, index, record))
    if decision is None:
        if record.status == "started":
            reason = _ATTENTION.format(tool=record.call.tool_name)
            _add_pending(run, record, index, reason, "keel")
        return None
    if isinstance(decision.decision, Approve):
        return True
    result = await _rejection(run, record, decision.decision)
    await _tell_rejected(run, record, decision)  # the tool (a plan keeps state)
    rejected = _tool_call(run, record, index, approved=False)
    rejected.context.approved_by = decision.decided_by  # who decided (here: rejected)
    await run.pipeline.rejected(rejected, result)  # the middleware (the gateway audits)
    await _finish(run, record, result)
    return None


async def _tell_rejected(run: ActiveRun, record: CallRecord, decision: DecisionRecord) -> None:
    """A tool that keeps state about its waiting call (a plan) hears of the rejection."""
    hook = getattr(run.tools.get(record.call.tool_name), "on_rejected", None)
    if hook is not None:
        context = call_context(run.context, record.call.call_id, approved=False)
        await hook(record.call.arguments, context, decision)


def _tool_call(run: ActiveRun, record: CallRecord, index: int, approved: bool) -> ToolCall:
    tool = run.tools.get(record.call.tool_name)
    context = call_context(run.context, record.call.call_id, approved=approved)
    if approved:
        decision = run.state.decision_for(pending_id(run.state.step, index, record))
        context.approved_by = None if decision is None else decision.decided_by
    return ToolCall(context=context, call=record.call, tool=tool, approved=approved)


def call_context(ctx: RunContext, call_id: str, *, approved: bool) -> RunContext:
    """The run's context for one tool call; shares usage, metadata and emitted events."""
    return RunContext(
        run_id=ctx.run_id,
        agent_name=ctx.agent_name,
        session_id=ctx.session_id,
        deps=ctx.deps,
        step=ctx.step,
        usage=ctx.usage,
        principal=ctx.principal,
        parent_run_id=ctx.parent_run_id,
        tool_call_id=call_id,
        metadata=ctx.metadata,
        approved=approved,
        emitted=ctx.emitted,
        runner=ctx.runner,
    )


async def _rejection(run: ActiveRun, record: CallRecord, decision: Reject) -> ToolResultPart:
    reason = decision.reason or "no reason given"
    passed = await run.pipeline.input(run.context, [Message.user(reason)])
    text = passed.text if isinstance(passed, Respond) else "".join(m.text for m in passed)
    content = f"a person rejected this call, so it did not run: {text}"
    return ToolResultPart(record.call.call_id, record.call.tool_name, content, True)


async def _finish(run: ActiveRun, record: CallRecord, result: ToolResultPart) -> None:
    record.result, record.status = result, "finished"
    others_open = any(r.result is None for r in run.state.calls)
    if others_open and run.has_side_effects(record.call.tool_name):
        # A side effect happened: never again. (The last call's result is written by
        # closing the step, right after.)
        await run.checkpoints.step(run.state)


def _add_pending(
    run: ActiveRun, record: CallRecord, index: int, reason: str, middleware: str
) -> None:
    pending = PendingAction(
        id=pending_id(run.state.step, index, record),
        kind="tool_call",
        reason=reason,
        tool_name=record.call.tool_name,
        arguments=record.call.arguments,
        call_id=record.call.call_id,
        requested_by=middleware,
    )
    run.state.pending = [p for p in run.state.pending if p.id != pending.id] + [pending]


async def _close_step(run: ActiveRun) -> Handoff | None:
    """All results in: append them as one message (and act on a handoff among them).
    Otherwise suspend for the rest."""
    state = run.state
    if all(r.result is not None for r in state.calls):
        results = [r.result for r in state.calls if r.result is not None]
        state.new_messages.append(Message.tool_results(results))
        state.calls, state.pending = [], []
        handoff = await take_handoff(run)  # before the checkpoint: the switch is durable
        await run.checkpoints.step(state)
        return handoff
    waiting = {p.id for p in state.pending}
    state.pending = [p for p in state.pending if p.id in waiting and _still_open(run, p)]
    attention = any(r.status == "started" for r in state.calls)
    state.status = "needs_attention" if attention else "suspended"
    await run.checkpoints.keep(state)
    return None


def _still_open(run: ActiveRun, pending: PendingAction) -> bool:
    record = next((r for r in run.state.calls if r.call.call_id == pending.call_id), None)
    return record is not None and record.result is None


def _decision_events(run: ActiveRun, record: CallRecord, call: ToolCall | None) -> list[RunEvent]:
    if call is None:
        return []
    call_id = record.call.call_id
    notes = list(call.decisions)
    if not call.reached and not notes and record.result is not None:
        return [MiddlewareDecision(run.context, call.by, "short_circuit", "answered", call_id)]
    return [MiddlewareDecision(run.context, n.middleware, n.kind, n.detail, call_id) for n in notes]
