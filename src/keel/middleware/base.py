"""Middleware: the seam where layers *decide*, not just watch.

One ordered chain, from the `Runner` (outermost) to the `Agent`, with four points. Override
the ones you need; the defaults pass everything through.

- `on_input(ctx, messages)` — user text entering the run (the run's input, and text a
  person adds on resume, such as a rejection reason). Return the messages, transformed
  or not, or `Respond("…")` to answer without calling the model.
- `wrap_model_call(call, call_next)` — around each model call. Change `call.request`
  (trim history…) and pass it on, return a `ModelResponse` yourself (a cached reply), or
  `call.require_approval(reason)` to suspend the run before the call.
- `wrap_tool_call(call, call_next)` — around each tool call. Change the arguments, rewrite
  the result, `return call.deny(reason)` (the model is told; the run goes on),
  `call.require_approval(reason)` to suspend for a person, or raise to fail the run.
- `on_output(ctx, message)` — the final answer before it is validated and returned;
  `stream_output(ctx, chunks)` — the text a streaming client sees, as it is generated
  (hold text back, replace it).

**The rule of record.** What a middleware *returns* is the record: transformed input,
model responses, tool results and the final answer are stored in the session and the run
as returned, and later steps see them. A transformed *request* is a view for that one
model call: it changes what the model sees, never what is stored. So redact in
`on_input` (the raw value is never stored and never seen); trim history in
`wrap_model_call` (the model sees less, the session keeps everything).

Raising any exception fails the run with it; use `keel.RunBlocked` to refuse with a reply.
Decisions (deny, approval, short-circuit) are reported as `MiddlewareDecision` events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from keel.context import RunContext
from keel.messages import Message, ModelResponse, ToolCallPart, ToolResultPart
from keel.models.base import Model, ModelRequest

if TYPE_CHECKING:
    from keel.tools.base import Tool

__all__ = [
    "DecisionKind",
    "Middleware",
    "ModelCall",
    "ModelHandler",
    "NoteDecision",
    "Respond",
    "SuspendRun",
    "ToolCall",
    "ToolHandler",
    "current_model_call",
]

DecisionKind = Literal[
    "deny", "suspend", "short_circuit", "transform", "retry", "fallback", "breaker", "tier"
]


@dataclass(frozen=True, slots=True)
class NoteDecision:
    """A decision a middleware took on a call, reported as a `MiddlewareDecision` event."""

    middleware: str
    kind: DecisionKind
    detail: str


class SuspendRun(Exception):  # control flow, not an error
    """Raised by `require_approval`/`suspend`: the run stops here until a person decides."""

    def __init__(self, reason: str, middleware: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.middleware = middleware


@dataclass(frozen=True, slots=True)
class Respond:
    """Returned by `on_input`: end the run with this reply; the model is not called."""

    text: str


@dataclass(slots=True, kw_only=True)
class _Call:
    context: RunContext
    approved: bool = False
    """True when a person approved this exact call (on resume)."""
    decisions: list[NoteDecision] = field(default_factory=list[NoteDecision])
    by: str = ""
    """The middleware running now: decisions are recorded in its name."""
    reached: bool = False
    """Set when the call got past every middleware to the model or tool itself."""

    def note(self, kind: DecisionKind, detail: str) -> None:
        self.decisions.append(NoteDecision(self.by, kind, detail))

    def suspend(self, reason: str) -> None:
        """Stop the run here until a person decides; raises `SuspendRun`."""
        self.note("suspend", reason)
        raise SuspendRun(reason, self.by)

    def require_approval(self, reason: str) -> None:
        """Suspend unless a person already approved this call."""
        if not self.approved:
            self.suspend(reason)


@dataclass(slots=True, kw_only=True)
class ModelCall(_Call):
    """One model call on its way to the model."""

    request: ModelRequest
    model: Model


@dataclass(slots=True, kw_only=True)
class ToolCall(_Call):
    """One tool call on its way to the tool. `tool` is None when the name is unknown."""

    call: ToolCallPart
    tool: Tool | None

    @property
    def arguments(self) -> dict[str, Any]:
        return self.call.arguments

    def result(self, content: str, *, is_error: bool = False) -> ToolResultPart:
        """A result for this call, as if the tool had returned `content`."""
        return ToolResultPart(self.call.call_id, self.call.tool_name, content, is_error)

    def deny(self, reason: str) -> ToolResultPart:
        """Refuse the call: the model reads `reason` as the tool's error; the run goes on."""
        self.note("deny", reason)
        return self.result(f"not allowed: {reason}", is_error=True)


current_model_call: ContextVar[ModelCall | None] = ContextVar("keel_model_call", default=None)
"""The model call being made, while the model works on it: a model that wraps models (the
gateway) reads the run it serves from here, and notes its decisions (a retry, a fallback)
on it, which the run reports as `MiddlewareDecision` events."""

ModelHandler = Callable[[ModelCall], Awaitable[ModelResponse]]
ToolHandler = Callable[[ToolCall], Awaitable[ToolResultPart]]


class Middleware:
    """Base class: override any of the points; each default passes through unchanged."""

    @property
    def name(self) -> str:
        return type(self).__name__

    async def on_input(self, ctx: RunContext, messages: list[Message]) -> list[Message] | Respond:
        return messages

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        return await call_next(call)

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        return await call_next(call)

    async def on_tool_rejected(self, call: ToolCall, result: ToolResultPart) -> None:
        """A person rejected `call` (it had suspended for approval), so it never reaches
        `wrap_tool_call`; `result` is what the model reads, and `call.context.approved_by`
        is who decided. For audit trails."""

    async def on_output(self, ctx: RunContext, message: Message) -> Message:
        return message

    def stream_output(self, ctx: RunContext, chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        return chunks


def overrides(middleware: Sequence[Middleware], point: str) -> list[Middleware]:
    """The middleware that override `point`; the others cost nothing there."""
    return [m for m in middleware if _overrides(type(m), point)]


@cache
def _overrides(kind: type[Middleware], point: str) -> bool:
    return getattr(kind, point) is not getattr(Middleware, point)
