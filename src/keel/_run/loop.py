"""The agent loop: receive → plan (model) → execute (tools) → observe → respond.

It is an async generator of `RunEvent`s and knows nothing of hooks, sessions or
tracing: the `Runner` drives it, tells the hooks, and saves the turn. Each iteration is
one step (one model request); the loop ends when the model answers without tool calls
and the answer validates, or raises when a bound is hit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from keel._run.output import OutputSpec, repair_prompt
from keel._run.tool_calls import execute_tool_calls
from keel.agent import Agent
from keel.context import RunContext
from keel.events import (
    ModelRequestStarted,
    ModelResponseReceived,
    RunEvent,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from keel.exceptions import MaxStepsExceeded, ModelError, OutputValidationError
from keel.messages import Message, ModelResponse
from keel.models.base import Model, ModelRequest
from keel.models.base import TextDelta as ModelTextDelta

__all__ = ["LoopState", "run_loop"]


@dataclass(slots=True)
class LoopState:
    agent: Agent[Any]
    model: Model
    context: RunContext
    output_spec: OutputSpec[Any]
    history: list[Message]
    new_messages: list[Message]
    output: Any = None
    repairs: int = 0
    prefix: list[Message] = field(default_factory=list[Message])

    def __post_init__(self) -> None:
        if self.agent.instructions:
            self.prefix = [Message.system(self.agent.instructions)]

    def build_request(self) -> ModelRequest:
        return ModelRequest(
            messages=[*self.prefix, *self.history, *self.new_messages],
            tools=self.agent.tool_definitions,
            output_schema=self.output_spec.schema,
            settings=self.agent.model_settings,
        )


async def run_loop(state: LoopState, *, streaming: bool) -> AsyncIterator[RunEvent]:
    """Run steps until a valid final answer; the answer is left in `state.output`."""
    ctx, limits = state.context, state.agent.limits
    while True:
        if ctx.step >= limits.max_steps:
            raise MaxStepsExceeded(
                f"agent {state.agent.name!r} made {ctx.step} model requests without a final "
                f"answer; raise RunLimits.max_steps (now {limits.max_steps}) if it needs more",
                limit="max_steps",
            )
        ctx.step += 1
        request = state.build_request()
        yield ModelRequestStarted(ctx, request, state.model.name, state.model.provider)
        response: ModelResponse | None = None
        if streaming:
            async for item in state.model.stream(request):
                if isinstance(item, ModelTextDelta):
                    yield TextDelta(ctx, item.text)
                else:
                    response = item
        else:
            response = await state.model.request(request)
        if response is None:
            raise ModelError(f"model {state.model.name!r} ended its stream without a response")
        state.new_messages.append(response.message)
        yield ModelResponseReceived(ctx, response)
        if response.message.tool_calls:
            async for event in _run_tools(state, response.message):
                yield event
        elif _accept_output(state, response.message.text):
            return


async def _run_tools(state: LoopState, message: Message) -> AsyncIterator[RunEvent]:
    ctx, calls = state.context, message.tool_calls
    for call in calls:
        yield ToolCallStarted(ctx, call)
    results = await execute_tool_calls(
        calls, state.agent.tool_map, ctx, max_chars=state.agent.limits.max_tool_result_chars
    )
    for call, result in zip(calls, results, strict=True):
        yield ToolCallFinished(ctx, call, result)
    state.new_messages.append(Message.tool_results(results))


def _accept_output(state: LoopState, text: str) -> bool:
    """Validate the final text; on failure queue a repair request or give up."""
    try:
        state.output = state.output_spec.parse(text)
        return True
    except ValidationError as exc:
        schema = state.output_spec.schema
        assert schema is not None  # str output never fails validation
        if state.repairs >= state.agent.limits.max_output_retries:
            raise OutputValidationError(
                f"agent {state.agent.name!r}: output still invalid after {state.repairs} "
                f"repair request(s): {exc.errors()[0]['msg']}",
                raw_output=text,
            ) from exc
        state.repairs += 1
        state.new_messages.append(Message.user(repair_prompt(exc, schema)))
        return False
