"""`RunResult`: what a run returns — finished, or stopped to wait for people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from keel.messages import Message, Usage
from keel.runs.pending import PendingAction

__all__ = ["ResultStatus", "RunResult"]

OutputT = TypeVar("OutputT")

ResultStatus = Literal["completed", "suspended", "needs_attention"]


@dataclass(frozen=True, slots=True)
class RunResult(Generic[OutputT]):
    """The validated output plus everything needed to audit or continue the run.

    `status` is `completed` (`output` holds the answer), `suspended` (the run waits for a
    decision on each of `pending`; continue it with `Runner.resume`), or `needs_attention`
    (a tool call may or may not have happened; a person must decide, see `pending`).
    `output` is None unless completed.
    """

    output: OutputT
    run_id: str
    agent_name: str
    session_id: str | None
    new_messages: tuple[Message, ...]
    """Messages this run added: the input, model answers, tool results."""
    history: tuple[Message, ...]
    """Messages loaded from the session before the run."""
    usage: Usage
    steps: int
    status: ResultStatus = "completed"
    pending: tuple[PendingAction, ...] = ()

    @property
    def messages(self) -> tuple[Message, ...]:
        """The whole conversation after this run."""
        return self.history + self.new_messages
