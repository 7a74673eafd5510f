"""The lifecycle seam: every run emits these events, in order, to every `RunHook`.

Events are the read-only observation channel: `Runner.stream` yields them to the
caller, hooks (tracing, metrics, logs) receive the same ones. Deciding — transforming,
denying, suspending — is middleware's job (`keel.middleware`); a hook that raises still
aborts the run, but cannot do anything gentler. Every event carries `at`, the wall-clock
time (`time.time()`) it was made.

Order for one run (or one resumed segment of it)::

    RunStarted | RunResumed
      (ModelRequestStarted → TextDelta* → ModelResponseReceived
       → (ToolCallStarted* → ToolCallFinished* MiddlewareDecision* Handoff?)
       → OutputRepairRequested?)*                      one block per step
       (GuardrailTripped may follow any stage: input, a model call, a tool call, output)
    RunSuspended? → RunFinished | RunFailed
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from keel.context import RunContext
from keel.messages import Message, ModelResponse, ToolCallPart, ToolResultPart
from keel.models.base import ModelRequest
from keel.result import ResultStatus
from keel.runs.pending import Decision, PendingAction

if TYPE_CHECKING:
    from keel.result import RunResult

__all__ = [
    "GuardrailTripped",
    "Handoff",
    "MiddlewareDecision",
    "ModelRequestStarted",
    "ModelResponseReceived",
    "OutputRepairRequested",
    "RunEvent",
    "RunFailed",
    "RunFinished",
    "RunHook",
    "RunResumed",
    "RunStarted",
    "RunSuspended",
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
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class ModelRequestStarted:
    context: RunContext
    request: ModelRequest
    model_name: str
    provider: str
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer as the model writes it (streamed runs only)."""

    context: RunContext
    text: str
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class ModelResponseReceived:
    context: RunContext
    response: ModelResponse
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    context: RunContext
    call: ToolCallPart
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    context: RunContext
    call: ToolCallPart
    result: ToolResultPart
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class RunFinished:
    context: RunContext
    result: RunResult[Any]
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class RunFailed:
    context: RunContext
    error: BaseException
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class RunResumed:
    """A stored run continues, with the decisions that let it go on."""

    context: RunContext
    decisions: Mapping[str, Decision]
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class RunSuspended:
    """The run stopped to wait for decisions on `pending`; `RunFinished` follows."""

    context: RunContext
    pending: Sequence[PendingAction]
    status: ResultStatus
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class MiddlewareDecision:
    """A middleware denied, suspended, short-circuited or transformed a call."""

    context: RunContext
    middleware: str
    kind: str
    detail: str
    tool_call_id: str | None = None
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class GuardrailTripped:
    """A guardrail changed (`modify`) or refused (`block`) text at `stage`: input, output,
    stream, tool_call or tool_result. `reason` never quotes the offending text."""

    context: RunContext
    guardrail: str
    stage: str
    action: str
    score: float
    reason: str
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class OutputRepairRequested:
    """The final answer failed validation; the model is asked again with `problem`."""

    context: RunContext
    problem: str
    raw_output: str
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class Handoff:
    """The run passed to another agent (a handoff tool's outcome); the conversation goes
    with it and the next model call is `to_agent`'s. `back` is True for a hand-back."""

    context: RunContext
    from_agent: str
    to_agent: str
    reason: str = ""
    back: bool = False
    at: float = field(default_factory=time.time, kw_only=True)


RunEvent = (
    RunStarted
    | RunResumed
    | RunSuspended
    | MiddlewareDecision
    | GuardrailTripped
    | OutputRepairRequested
    | ModelRequestStarted
    | TextDelta
    | ModelResponseReceived
    | ToolCallStarted
    | ToolCallFinished
    | Handoff
    | RunFinished
    | RunFailed
)


@runtime_checkable
class RunHook(Protocol):
    """Receives every event of every run it is attached to. Raise to abort the run.

    A hook class may set `observes_steps = False` to receive only the lifecycle events
    (`RunStarted`, `RunResumed`, `RunSuspended`, `RunFinished`, `RunFailed`): when no
    hook of a run reads the step events, they are not made at all (tracing does this).
    """

    async def on_event(self, event: RunEvent) -> None: ...
