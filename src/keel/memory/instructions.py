"""`Instructions`: system text computed for each model call from the run's context —
the user's facts, the time, notes retrieved for this turn — added after the agent's
static instructions. The session never stores it; every call computes it afresh."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import replace

from keel.context import RunContext
from keel.memory.window import with_system_text
from keel.messages import ModelResponse
from keel.middleware.base import Middleware, ModelCall, ModelHandler

__all__ = ["Instructions", "InstructionsFn"]

InstructionsFn = Callable[[RunContext], str | Awaitable[str | None] | None]
"""Returns text to add to the instructions, or None (or "") to add nothing this call."""


class Instructions(Middleware):
    def __init__(self, *providers: InstructionsFn) -> None:
        self.providers = providers

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        texts: list[str] = []
        for provider in self.providers:
            text = provider(call.context)
            if inspect.isawaitable(text):
                text = await text
            if text:
                texts.append(text)
        if not texts:
            return await call_next(call)
        messages = with_system_text(call.request.messages, "\n\n".join(texts))
        return await call_next(replace(call, request=replace(call.request, messages=messages)))
