"""The lifecycle seam: every run emits these events, in order, to every `RunHook`.

One mechanism serves two audiences. `Runner.stream` yields the events to the caller;
hooks (usage accounting, tracing, and later guardrails, budgets, memory) receive the
same events without the loop knowing they exist. A hook that raises aborts the run with
its exception — that is how a guardrail or budget says no.

Order for one run::

    RunStarted
      (ModelRequestStarted → TextDelta* → ModelResponseReceived
       → (ToolCallStarted → ToolCallFinished)*)*      one block per step
    RunFinished | RunFailed
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from keel.context import RunContext
from keel.messages import Message, ModelResponse, ToolCallPart, ToolResultPart
from keel.models.base import ModelRequest

if TYPE_CHECKING:
    from keel.result import RunResult

__all__ = [
    "ModelRequestStarted",
    "ModelResponseReceived",
    "RunEvent",
    "RunFailed",
    "RunFinished",
    "RunHook",
    "RunStarted",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
]


@dataclass(frozen=True, slots=True)
class RunStarted:
    context: RunContext
    input: Sequence[Message]
    model_name: str
    provider: str


@dataclass(frozen=True, slots=True)
class ModelRequestStarted:
    context: RunContext
    request: ModelRequest
    model_name: str
    provider: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer as the model writes it (streamed runs only)."""

    context: RunContext
    text: str


@dataclass(frozen=True, slots=True)
class ModelResponseReceived:
    context: RunContext
    response: ModelResponse


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    context: RunContext
    call: ToolCallPart


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    context: RunContext
    call: ToolCallPart
    result: ToolResultPart


@dataclass(frozen=True, slots=True)
class RunFinished:
    context: RunContext
    result: RunResult[Any]


@dataclass(frozen=True, slots=True)
class RunFailed:
    context: RunContext
    error: BaseException


RunEvent = (
    RunStarted
    | ModelRequestStarted
    | TextDelta
    | ModelResponseReceived
    | ToolCallStarted
    | ToolCallFinished
    | RunFinished
    | RunFailed
)


@runtime_checkable
class RunHook(Protocol):
    """Receives every event of every run it is attached to. Raise to abort the run."""

    async def on_event(self, event: RunEvent) -> None: ...
