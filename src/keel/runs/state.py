"""`RunState`: everything needed to continue a run in another process, and its codec.

The loop works on this object directly; a checkpoint writes it whole as JSON. Live
objects (the agent, the model, `deps`) are not part of it: a resuming process finds the
agent by name in its app and passes its own deps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_json

from keel.exceptions import RunStateError
from keel.messages import Message, ToolCallPart, ToolResultPart, Usage
from keel.principal import ANONYMOUS, Principal
from keel.runs.pending import DecisionRecord, PendingAction, RunStatus

__all__ = ["STATE_VERSION", "CallRecord", "CallStatus", "RunState", "decode_state", "encode_state"]

STATE_VERSION = 1
"""Bumped when the stored shape changes; older states are refused with a clear error."""

CallStatus = Literal["planned", "started", "finished", "suspended"]
"""planned: asked for, not run · started: may have had its side effect · finished: has a
result · suspended: waits on a decision."""


@dataclass(slots=True)
class CallRecord:
    """One tool call of the current step, from the model's request to its result."""

    call: ToolCallPart
    status: CallStatus = "planned"
    result: ToolResultPart | None = None
    attempts: int = 0
    """How many times the tool was started (a crash mid-call leaves it at 1 or more)."""


@dataclass(slots=True, kw_only=True)
class RunState:
    run_id: str
    agent_name: str
    session_id: str | None = None
    principal: Principal = ANONYMOUS
    parent_run_id: str | None = None
    status: RunStatus = "running"
    step: int = 0
    repairs: int = 0
    usage: Usage = field(default_factory=Usage)
    history_len: int = 0
    """How many session messages the run started from (a resume sees the same ones)."""
    new_messages: list[Message] = field(default_factory=list[Message])
    calls: list[CallRecord] = field(default_factory=list[CallRecord])
    pending: list[PendingAction] = field(default_factory=list[PendingAction])
    decisions: list[DecisionRecord] = field(default_factory=list[DecisionRecord])
    output: Any = None
    error: str | None = None
    """Why the run failed or needs attention."""
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    version: int = STATE_VERSION

    def decision_for(self, pending_id: str) -> DecisionRecord | None:
        return next((d for d in self.decisions if d.pending_id == pending_id), None)

    @property
    def undecided(self) -> list[PendingAction]:
        return [p for p in self.pending if self.decision_for(p.id) is None]


@cache
def _adapter() -> TypeAdapter[RunState]:
    return TypeAdapter(RunState)


def encode_state(state: RunState) -> str:
    """JSON for the store; RunStateError naming the field that holds an unstorable value."""
    try:
        return _adapter().dump_json(state).decode()
    except PydanticSerializationError as exc:
        raise RunStateError(
            f"run {state.run_id!r}: {_unstorable_field(state)} holds a value that cannot be "
            f"stored as JSON ({exc}); keep only JSON values (str, numbers, lists, dicts) there"
        ) from exc


def decode_state(data: str | bytes, run_id: str) -> RunState:
    """The stored state; RunStateError (nothing changed) when it is corrupt or too old."""
    try:
        state = _adapter().validate_json(data)
    except ValidationError as exc:
        raise RunStateError(
            f"run {run_id!r} has a stored state this Keel cannot read ({exc.error_count()} "
            f"problem(s), first: {_first_problem(exc)}); it was written by another version "
            "of Keel or edited by hand — nothing was changed"
        ) from exc
    if state.version != STATE_VERSION:
        raise RunStateError(
            f"run {run_id!r} was stored with state version {state.version}; this Keel "
            f"reads version {STATE_VERSION} — resume it with the Keel that started it"
        )
    return state


def _unstorable_field(state: RunState) -> str:
    # Only on the error path: find which field (or metadata key) fails to encode.
    for item in fields(state):
        value = getattr(state, item.name)
        if item.name == "metadata":
            for key, entry in value.items():
                if not _encodes(entry):
                    return f"metadata[{key!r}]"
        elif not _encodes(value):
            return item.name
    return "a field"


def _encodes(value: Any) -> bool:
    try:
        to_json(value)
    except PydanticSerializationError:
        return False
    return True


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "state"
    return f"{where}: {error['msg']}"
