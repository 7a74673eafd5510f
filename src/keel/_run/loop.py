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
from keel._run.model_call import call_model, model_call_approved
from keel._run.output import repair_prompt
from keel._run.streaming import stream_model_call
from keel._run.tool_step import settle_tool_step, started_events
from keel._run.usage import add_model_usage, bound_model_request
from keel.events import (
    MiddlewareDecision,
    ModelRequestStarted,
    ModelResponseReceived,
    OutputRepairRequested,
    RunEvent,
)
from keel.exceptions import MaxStepsExceeded, OutputValidationError
from keel.messages import Message, ModelResponse, Part, ToolCallPart
from keel.middleware import ModelCall
from keel.models.base import SupportsEscalate
from keel.runs.state import CallRecord

__all__ = ["run_loop", "unique_call_ids"]


async def run_loop(run: ActiveRun, *, streaming: bool) -> AsyncGenerator[RunEvent]:  # noqa: C901
    """Run steps until a valid final answer (left in `run.output`) or a suspension.

    One generator for the whole run, with plain coroutines below it: every nested async
    generator would cost a turn several microseconds (see BENCHMARKS.md), which is why
    this function is allowed to be a little more branched than the rest. Events are made
    only when someone reads them (`run.observed`).
    """
    state = run.state
    while state.status == "running" and not run.answered:
        if state.calls:  # the model asked for tools (or a resumed run stopped amid them)
            for event in started_events(run):
                yield event
            for event in await settle_tool_step(run):
                yield event
            continue
        call = _begin_step(run)
        if run.observed:
            yield ModelRequestStarted(run.context, call.request, run.model.name, run.model.provider)
        if streaming:
            async with aclosing(stream_model_call(run, call)) as deltas:
                async for delta in deltas:
                    yield delta
        response = run.response if streaming else await call_model(run, call)
        if response is None:  # suspended before the model was called
            return
        for event in await _observe(run, call, response):
            yield event
        if not state.calls and not await _accept_output(run, state.new_messages[-1]):
            if run.observed:
                yield _repair_event(run)
            await run.checkpoints.step(state)


def _begin_step(run: ActiveRun) -> ModelCall:
    _check_steps(run)
    approved = model_call_approved(run)
    run.state.step += 1
    run.context.step = run.state.step
    request = bound_model_request(
        run.model, run.build_request(), run.context.usage, run.agent.limits
    )
    call = ModelCall(context=run.context, request=request, model=run.model)
    call.approved = approved
    return call


async def _observe(run: ActiveRun, call: ModelCall, response: ModelResponse) -> list[RunEvent]:
    """Account for and record the answer; the events that report it."""
    add_model_usage(run.context.usage, response.usage, run.agent.limits)
    await _record_response(run, response)
    if not run.observed:
        return []
    events = _decision_events(run, call)
    events.append(ModelResponseReceived(run.context, response))
    return events


def unique_call_ids(message: Message) -> Message:
    """The message with every tool call id unique: results, checkpoints and idempotency
    keys are matched by id, and a model may repeat one (`call_1`, `call_1`)."""
    ids = [p.call_id for p in message.parts if isinstance(p, ToolCallPart)]
    if len(ids) < 2 or len(set(ids)) == len(ids):
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


async def _record_response(run: ActiveRun, response: ModelResponse) -> None:
    state = run.state
    message = response.message
    if message.role == "assistant" and len(message.parts) > 1:
        message = unique_call_ids(message)
    if message.agent is None:  # each message records the agent that wrote it
        message = Message(message.role, message.parts, run.agent.name)
    state.new_messages.append(message)
    calls = message.tool_calls
    if calls:
        state.calls = [CallRecord(c) for c in calls]
        if not any(run.has_side_effects(c.tool_name) for c in calls):
            # Side-effecting calls write their own "started" checkpoint before they run,
            # carrying this answer with them; only an all-read-only step writes it here.
            await run.checkpoints.step(state)


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
    if state.repairs < run.agent.limits.max_output_retries:
        state.repairs += 1
    elif _escalated(run):
        state.repairs = 0  # a stronger model, with its own repair budget, is asked
    else:
        raise OutputValidationError(
            f"agent {run.agent.name!r}: output still invalid after {state.repairs} "
            f"repair request(s): {exc.errors()[0]['msg']}",
            raw_output=text,
        ) from exc
    state.new_messages.append(Message.user(repair_prompt(exc, schema)))
    return False


def _escalated(run: ActiveRun) -> bool:
    """The loop's fallback policy for output that stays invalid: a model that can move
    this run to a stronger model (`SupportsEscalate`: a gateway, a tier router) does."""
    model = run.model
    return isinstance(model, SupportsEscalate) and model.escalate(run.context)


def _repair_event(run: ActiveRun) -> RunEvent:
    messages = run.state.new_messages
    return OutputRepairRequested(run.context, messages[-1].text, messages[-2].text)
