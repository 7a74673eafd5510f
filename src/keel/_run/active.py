"""`ActiveRun`: one run being executed — its stored state plus the live objects around it.

`state` is what survives a process (see `keel.runs.state`); the rest is rebuilt by
whichever process continues the run: the agent and model, the resolved tools, deps, and
the middleware chain, whose innermost handlers — call the model, call the tool — live here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keel._run.checkpoint import Checkpointer
from keel._run.output import OutputSpec
from keel._run.pipeline import Pipeline
from keel._run.tool_calls import invoke_tool
from keel.agent import Agent
from keel.context import RunContext
from keel.exceptions import ModelError
from keel.messages import Message, ModelResponse, ToolResultPart
from keel.middleware import Middleware, ModelCall, ToolCall
from keel.middleware.base import current_model_call
from keel.models.base import Model, ModelRequest, ToolDefinition
from keel.models.base import TextDelta as ModelTextDelta
from keel.runs.state import RunState
from keel.tools.base import Tool

__all__ = ["ActiveRun"]


@dataclass(slots=True, kw_only=True)
class ActiveRun:
    agent: Agent[Any]
    model: Model
    context: RunContext
    state: RunState
    output_spec: OutputSpec[Any]
    history: list[Message]
    tools: Mapping[str, Tool]
    tool_definitions: Sequence[ToolDefinition]
    checkpoints: Checkpointer
    middleware: Sequence[Middleware]
    pipeline: Pipeline = field(init=False)
    prefix: list[Message] = field(default_factory=list[Message])
    text_sink: Callable[[str], None] | None = None
    """Where streamed text goes while a model call streams; None when not streaming."""
    response: ModelResponse | None = None
    """The last streamed model call's response."""
    output: Any = None
    answered: bool = False
    observed: bool = True
    """False when nobody reads the run's events (`run` with no hooks): none are made."""
    """True once the final answer validated (`output` may legitimately be None)."""

    def __post_init__(self) -> None:
        if self.agent.instructions:
            self.prefix = [Message.system(self.agent.instructions)]
        self.pipeline = Pipeline.build(self.middleware, self._call_model, self._call_tool)

    def rebuild_pipeline(self) -> None:
        """After `middleware` changed: a handoff switched the run to another agent."""
        self.pipeline = Pipeline.build(self.middleware, self._call_model, self._call_tool)

    def build_request(self) -> ModelRequest:
        return ModelRequest(
            messages=[*self.prefix, *self.history, *self.state.new_messages],
            tools=self.tool_definitions,
            output_schema=self.output_spec.schema,
            settings=self.agent.model_settings,
        )

    async def _call_model(self, call: ModelCall) -> ModelResponse:
        call.reached = True
        token = current_model_call.set(call)  # what the model serves (see the variable)
        try:
            return await self._ask_model(call)
        finally:
            current_model_call.reset(token)

    async def _ask_model(self, call: ModelCall) -> ModelResponse:
        if self.text_sink is None:
            return await call.model.request(call.request)
        response: ModelResponse | None = None
        async for item in call.model.stream(call.request):
            if isinstance(item, ModelTextDelta):
                self.text_sink(item.text)
            else:
                response = item
        if response is None:
            raise ModelError(f"model {call.model.name!r} ended its stream without a response")
        return response

    async def _call_tool(self, call: ToolCall) -> ToolResultPart:
        call.reached = True
        limit = self.agent.limits.max_tool_result_chars
        return await invoke_tool(call, self.tools, limit, self._started)

    def has_side_effects(self, tool_name: str) -> bool:
        """Whether running the tool again could repeat an effect (unknown tools: no)."""
        tool = self.tools.get(tool_name)
        return tool is not None and not tool.annotations.read_only

    def may_rerun(self, tool_name: str) -> bool:
        """Whether an interrupted call may simply run again (idempotent or read-only)."""
        tool = self.tools.get(tool_name)
        return tool is not None and tool.annotations.retryable

    async def _started(self, call: ToolCall) -> None:
        """Just before a tool with side effects runs: record that it may have happened."""
        if not self.has_side_effects(call.call.tool_name):
            return  # running a read-only tool again is harmless: no write needed
        for record in self.state.calls:
            if record.call.call_id == call.call.call_id:
                record.status = "started"
                record.attempts += 1
        await self.checkpoints.step(self.state)
