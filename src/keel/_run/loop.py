"""The agent loop: receive → plan (model) → execute (tools) → observe → respond.

An async generator of `RunEvent`s over an `ActiveRun`; it knows nothing of hooks or
sessions — the `Runner` drives it. Each iteration is one step (one model call through the
middleware chain). It ends when the model answers without tool calls and the answer
validates, when the run suspends (its state then says why), or raises at a bound.
A resumed run re-enters here with the unfinished tool step of its state.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace

from pydantic import ValidationError

from keel._run.active import ActiveRun
from keel._run.output import repair_prompt
from keel._run.streaming import stream_model_call
from keel._run.tool_step import run_tool_step
from keel.events import (
    MiddlewareDecision,
    ModelRequestStarted,
    ModelResponseReceived,
    OutputRepairRequested,
    RunEvent,
)
from keel.exceptions import MaxStepsExceeded, OutputValidationError, RunBlocked
from keel.messages import Message, ModelResponse, Part, ToolCallPart
from keel.middleware import ModelCall, SuspendRun
from keel.runs.pending import PendingAction, Reject
from keel.runs.state import CallRecord

__all__ = ["model_pending_id", "run_loop"]


def model_pending_id(step: int) -> str:
    return f"s{step}m"


async def run_loop(run: ActiveRun, *, streaming: bool) -> AsyncGenerator[RunEvent]:
    """Run steps until a valid final answer (left in `run.output`) or a suspension."""
    state = run.state
    if state.calls:  # resumed in the middle of a tool step
        async for event in run_tool_step(run):
            yield event
    while state.status == "running" and not run.answered:
        async with aclosing(_step(run, streaming)) as events:
            async for event in events:
                yield event


async def _step(run: ActiveRun, streaming: bool) -> AsyncGenerator[RunEvent]:
    """One model call and what follows from its answer: tools, the output, or a repair."""
    state = run.state
    _check_steps(run)
    approved = _model_call_approved(run)
    state.step += 1
    run.context.step = state.step
    call = ModelCall(context=run.context, request=run.build_request(), model=run.model)
    call.approved = approved
    yield ModelRequestStarted(run.context, call.request, run.model.name, run.model.provider)
    response: ModelResponse | None = None
    async with aclosing(_model_step(run, call, streaming)) as items:
        async for item in items:
            if isinstance(item, ModelResponse):
                response = item
            else:
                yield item
    if response is None:  # suspended before the model was called
        return
    for event in _decision_events(run, call):
        yield event
    yield ModelResponseReceived(run.context, response)
    if response.message.tool_calls:
        async for event in run_tool_step(run):
            yield event
    elif not await _accept_output(run, response.message):
        yield _repair_event(run)
        await run.checkpoints.step(state)


def unique_call_ids(message: Message) -> Message:
    """The message with every tool call id unique: results, checkpoints and idempotency
    keys are matched by id, and a model may repeat one (`call_1`, `call_1`)."""
    ids = [c.call_id for c in message.tool_calls]
    if len(set(ids)) == len(ids):
        return message
    seen: set[str] = set()
    parts: list[Part] = []
    for part in message.parts:
        if isinstance(part, ToolCallPart):
            call_id = part.call_id
            while call_id in seen:
                call_id += "+"
            seen.add(call_id)
            parts.append(replace(part, call_id=call_id))
        else:
            parts.append(part)
    return Message(message.role, tuple(parts))


def _check_steps(run: ActiveRun) -> None:
    limits = run.agent.limits
    if run.state.step >= limits.max_steps:
        raise MaxStepsExceeded(
            f"agent {run.agent.name!r} made {run.state.step} model requests without a final "
            f"answer; raise RunLimits.max_steps (now {limits.max_steps}) if it needs more",
            limit="max_steps",
        )


def _model_call_approved(run: ActiveRun) -> bool:
    record = run.state.decision_for(model_pending_id(run.state.step + 1))
    if record is None:
        return False
    if isinstance(record.decision, Reject):
        raise RunBlocked(
            f"a person rejected the model call of run {run.state.run_id!r}",
            reply=record.decision.reason or "This request was declined.",
        )
    return True


async def _model_step(
    run: ActiveRun, call: ModelCall, streaming: bool
) -> AsyncGenerator[RunEvent | ModelResponse]:
    """One model call; yields text events while streaming, then the response."""
    state = run.state
    try:
        if streaming:
            async with aclosing(stream_model_call(run, call)) as items:
                async for item in items:
                    if isinstance(item, ModelResponse):
                        await _record_response(run, item)
                    yield item
        else:
            response = await run.pipeline.model(call)
            await _record_response(run, response)
            yield response
    except SuspendRun as suspension:
        state.step -= 1  # the step did not happen; it is taken again on resume
        run.context.step = state.step
        pending = PendingAction(
            model_pending_id(state.step + 1),
            "model_call",
            suspension.reason,
            requested_by=suspension.middleware,
        )
        await _suspend_on_model_call(run, pending)


async def _record_response(run: ActiveRun, response: ModelResponse) -> None:
    state = run.state
    message = unique_call_ids(response.message)
    state.new_messages.append(message)
    calls = message.tool_calls
    if calls:
        state.calls = [CallRecord(c) for c in calls]
        await run.checkpoints.step(state)  # the model asked for tools: none has run yet


async def _suspend_on_model_call(run: ActiveRun, pending: PendingAction) -> None:
    run.state.pending = [pending]
    run.state.status = "suspended"
    await run.checkpoints.keep(run.state)


def _decision_events(run: ActiveRun, call: ModelCall) -> list[RunEvent]:
    decisions = list(call.decisions)
    if not call.reached and not decisions:
        return [MiddlewareDecision(run.context, call.by, "short_circuit", "answered for the model")]
    return [MiddlewareDecision(run.context, d.middleware, d.kind, d.detail) for d in decisions]


async def _accept_output(run: ActiveRun, message: Message) -> bool:
    """Validate the final answer; on failure queue a repair request or give up."""
    message = await run.pipeline.output(run.context, message)
    messages = run.state.new_messages
    messages[-1] = message  # the record is what the output middleware returned
    try:
        run.output = run.output_spec.parse(message.text)
        run.answered = True
        return True
    except ValidationError as exc:
        return _queue_repair(run, message.text, exc)


def _queue_repair(run: ActiveRun, text: str, exc: ValidationError) -> bool:
    schema = run.output_spec.schema
    assert schema is not None  # str output never fails validation
    state = run.state
    if state.repairs >= run.agent.limits.max_output_retries:
        raise OutputValidationError(
            f"agent {run.agent.name!r}: output still invalid after {state.repairs} "
            f"repair request(s): {exc.errors()[0]['msg']}",
            raw_output=text,
        ) from exc
    state.repairs += 1
    state.new_messages.append(Message.user(repair_prompt(exc, schema)))
    return False


def _repair_event(run: ActiveRun) -> RunEvent:
    messages = run.state.new_messages
    return OutputRepairRequested(run.context, messages[-1].text, messages[-2].text)
