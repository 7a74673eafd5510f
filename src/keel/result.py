"""`RunResult`: what a finished run returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from keel.messages import Message, Usage

__all__ = ["RunResult"]

OutputT = TypeVar("OutputT")


@dataclass(frozen=True, slots=True)
class RunResult(Generic[OutputT]):
    """The validated output plus everything needed to audit or continue the run."""

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

    @property
    def messages(self) -> tuple[Message, ...]:
        """The whole conversation after this run."""
        return self.history + self.new_messages
