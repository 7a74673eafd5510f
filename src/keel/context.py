"""`RunContext`: what one run knows about itself, shared with tools, hooks and middleware."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.messages import Usage
from keel.principal import ANONYMOUS, Principal

if TYPE_CHECKING:
    from keel.run import Runner

__all__ = ["RunContext"]


@dataclass(slots=True)
class RunContext:
    """State of one run. Tools receive it by declaring a `RunContext` parameter.

    `deps` carries whatever the application passes to `Runner.run(deps=…)`: a database
    handle, a client. `principal` is who the run acts for. `usage` is kept current as the
    run goes. Inside a tool call, `tool_call_id` names the call and `idempotency_key` is
    stable for it across retries and resumes: pass it to any system that can deduplicate.
    """

    run_id: str
    agent_name: str
    session_id: str | None = None
    deps: Any = None
    step: int = 0
    usage: Usage = field(default_factory=Usage)
    principal: Principal = ANONYMOUS
    parent_run_id: str | None = None
    tool_call_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])
    """Middleware scratch space that is stored with the run (JSON values only)."""
    approved: bool = False
    """Inside a tool call: True when a person approved this very call."""
    approved_by: Principal | None = None
    """Inside an approved tool call: who approved it (for audit and approver policy);
    in `Middleware.on_tool_rejected`, who rejected it."""
    emitted: list[Any] = field(default_factory=list[Any], repr=False, compare=False)
    """Events middleware reported with `emit`, not yet handed to the hooks."""

    def emit(self, event: Any) -> None:
        """Report an event (e.g. `GuardrailTripped`) from middleware: the runner hands it
        to the hooks and the stream right after the stage that made it."""
        self.emitted.append(event)

    def drain(self) -> list[Any]:
        """The events emitted since the last drain, oldest first (the runner calls this)."""
        if not self.emitted:
            return []
        events = self.emitted.copy()
        self.emitted.clear()  # in place: tool-call contexts share this list
        return events

    runner: Runner | None = field(default=None, repr=False, compare=False)
    """The runner driving this run: an agent called as a tool runs its child run here."""

    @property
    def idempotency_key(self) -> str | None:
        """`run_id/step/call id` inside a tool call; None outside one."""
        if self.tool_call_id is None:
            return None
        return f"{self.run_id}/{self.step}/{self.tool_call_id}"
