"""The middleware chain of one run, composed once per run from the ordered middleware.

Only middleware that override a point take part in it, so a point nobody uses costs a
single call. `by` on a call is set as each layer is entered, so a decision (or a
short-circuit) is attributed to the middleware that took it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from keel.context import RunContext
from keel.messages import Message, ModelResponse, ToolResultPart
from keel.middleware.base import (
    Middleware,
    ModelCall,
    ModelHandler,
    Respond,
    ToolCall,
    ToolHandler,
    overrides,
)

__all__ = ["Pipeline"]


@dataclass(frozen=True, slots=True)
class Pipeline:
    inputs: tuple[Middleware, ...]
    outputs: tuple[Middleware, ...]
    streams: tuple[Middleware, ...]
    model: ModelHandler
    tool: ToolHandler
    rejections: tuple[Middleware, ...] = ()

    @classmethod
    def build(
        cls, middleware: Sequence[Middleware], model: ModelHandler, tool: ToolHandler
    ) -> Pipeline:
        for layer in reversed(overrides(middleware, "wrap_model_call")):
            model = _model_layer(layer, model)
        for layer in reversed(overrides(middleware, "wrap_tool_call")):
            tool = _tool_layer(layer, tool)
        return cls(
            tuple(overrides(middleware, "on_input")),
            tuple(overrides(middleware, "on_output")),
            tuple(overrides(middleware, "stream_output")),
            model,
            tool,
            tuple(overrides(middleware, "on_tool_rejected")),
        )

    async def input(self, ctx: RunContext, messages: list[Message]) -> list[Message] | Respond:
        for layer in self.inputs:
            outcome = await layer.on_input(ctx, messages)
            if isinstance(outcome, Respond):
                return outcome
            messages = outcome
        return messages

    async def rejected(self, call: ToolCall, result: ToolResultPart) -> None:
        """Tell the middleware that record decisions that a person rejected `call`."""
        for layer in self.rejections:
            await layer.on_tool_rejected(call, result)

    async def output(self, ctx: RunContext, message: Message) -> Message:
        for layer in self.outputs:
            message = await layer.on_output(ctx, message)
        return message

    def stream(self, ctx: RunContext, chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        for layer in self.streams:
            chunks = layer.stream_output(ctx, chunks)
        return chunks


def _model_layer(layer: Middleware, inner: ModelHandler) -> ModelHandler:
    name, wrap = layer.name, layer.wrap_model_call

    async def handle(call: ModelCall) -> ModelResponse:
        call.by = name
        return await wrap(call, inner)

    return handle


def _tool_layer(layer: Middleware, inner: ToolHandler) -> ToolHandler:
    name, wrap = layer.name, layer.wrap_tool_call

    async def handle(call: ToolCall) -> ToolResultPart:
        call.by = name
        return await wrap(call, inner)

    return handle
