"""`GatewayCall`: one tool call as it passes the gateway's stages, and what they decided.

Stages write their findings here (the validated arguments, the policy's verdict, the
decision and its reason); the audit stage reads them at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from keel.context import RunContext
from keel.messages import ToolResultPart
from keel.middleware import ToolCall
from keel.policy import ALLOW, Verdict
from keel.tools.base import Tool
from keel.tools.gateway.store import LedgerEntry

__all__ = ["AuditDecision", "GatewayCall", "Stage"]

AuditDecision = Literal[
    "allowed",
    "approved",
    "denied",
    "invalid",
    "approval_required",
    "rejected",
    "unavailable",
    "replayed",
    "unknown_tool",
    "error",
]


@dataclass(slots=True, kw_only=True)
class GatewayCall:
    call: ToolCall
    target: Tool | None
    """The tool the model named (the gateway stands a guarded copy in for it)."""
    started: float
    """`perf_counter()` when the call entered the gateway (latency in the audit)."""
    arguments: dict[str, Any] = field(default_factory=dict[str, Any])
    """The validated arguments: exactly what runs, and what a person approves."""
    verdict: Verdict = ALLOW
    decision: AuditDecision = "allowed"
    reason: str = ""
    ledger_key: str | None = None
    """Set when this call owns a ledger row that settling must finish."""
    replayed: LedgerEntry | None = None
    unavailable: str | None = None
    """Why the tool could not be reached (down, timed out, breaker open)."""
    ticket_id: str | None = None

    @property
    def tool(self) -> Tool:
        assert self.target is not None  # stages run only for known tools
        return self.target

    @property
    def name(self) -> str:
        return self.call.call.tool_name

    @property
    def context(self) -> RunContext:
        return self.call.context

    def stop(self, decision: AuditDecision, reason: str) -> ToolResultPart:
        """End the call here with `reason` as the tool's error (the run goes on)."""
        self.decision, self.reason = decision, reason
        if decision == "denied":
            return self.call.deny(reason)
        return self.call.result(reason, is_error=True)


class Stage(Protocol):
    """A gateway stage: return a result to stop the call there, or None to go on."""

    async def check(self, g: GatewayCall) -> ToolResultPart | None: ...
