"""What a suspended run waits for (`PendingAction`) and what a person decides (`Approve`,
`Reject`). Plain frozen dataclasses: they round-trip through the run store unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from keel.principal import Principal

__all__ = [
    "Approve",
    "Decision",
    "DecisionRecord",
    "PendingAction",
    "PendingKind",
    "Reject",
    "RunStatus",
]

RunStatus = Literal["running", "suspended", "needs_attention", "completed", "failed"]
"""A stored run's status. `Runner.run` returns the three a caller can get back:
completed, suspended (waiting on `pending`), needs_attention (a person must look)."""

PendingKind = Literal["tool_call", "model_call"]


@dataclass(frozen=True, slots=True)
class PendingAction:
    """One thing a suspended run waits on; decide it by `id`.

    For a tool call, `tool_name` and `arguments` are the exact validated payload that
    will run if approved.
    """

    id: str
    kind: PendingKind
    reason: str
    tool_name: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict[str, Any])
    call_id: str | None = None
    requested_by: str = ""
    """The middleware that asked for the decision."""


@dataclass(frozen=True, slots=True)
class Approve:
    """Let the pending action go ahead exactly as proposed."""

    kind: Literal["approve"] = "approve"


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the pending action; `reason` reaches the model (through input middleware)."""

    reason: str = ""
    kind: Literal["reject"] = "reject"


Decision = Annotated[Approve | Reject, Field(discriminator="kind")]


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision as stored: what, by whom, when. Each pending action takes one."""

    pending_id: str
    decision: Decision
    decided_by: Principal
    at: float
