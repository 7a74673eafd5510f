"""Replies that claim an action no tool performed: "your refund has been processed" when
no refund tool ran in this run.

Small models write such sentences readily (the desk's 0.5B model did, on a refund request
routed to an agent without the refund tool); for a support desk it is the most harmful
kind of invention, because the customer acts on it. Two parts, because a guardrail sees
text and the run context but not the tool calls:

- `ToolsDone`, tool-call middleware, writes the names of tools that returned without an
  error into the run's metadata (stored with the run, so a resumed run keeps them);
- `UnbackedClaims`, an output guardrail, blocks a reply that matches a tool's claim
  pattern while that tool is not in the list — streamed replies included, since output
  guardrails hold text back to a safe boundary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from keel.context import RunContext
from keel.guardrails.base import Guardrail, Stage, Verdict
from keel.messages import ToolResultPart
from keel.middleware.base import Middleware, ToolCall, ToolHandler

__all__ = ["TOOLS_DONE", "ToolsDone", "UnbackedClaims"]

TOOLS_DONE = "keel.tools_done"
"""Run-metadata key: names of the tools that returned without an error, in order."""


class ToolsDone(Middleware):
    """Records each tool that answered without an error in `ctx.metadata[TOOLS_DONE]`."""

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        result = await call_next(call)
        if not result.is_error:
            done: list[str] = call.context.metadata.setdefault(TOOLS_DONE, [])
            if call.call.tool_name not in done:
                done.append(call.call.tool_name)
        return result


class UnbackedClaims(Guardrail):
    """Blocks a reply claiming what a tool does when that tool did not run in this run.

    `claims` maps a tool name to a regular expression (case-insensitive) for sentences
    saying its effect happened. Needs `ToolsDone` in the same run's middleware."""

    name = "unbacked_claims"
    stages: frozenset[Stage] = frozenset({"output"})

    def __init__(self, claims: Mapping[str, str]) -> None:
        self._claims = {tool: re.compile(p, re.IGNORECASE) for tool, p in claims.items()}

    async def check(self, text: str, ctx: RunContext | None = None) -> Verdict:
        done = set(ctx.metadata.get(TOOLS_DONE, ())) if ctx is not None else set[str]()
        for tool, pattern in self._claims.items():
            if tool not in done and pattern.search(text):
                return Verdict.block(f"claims what {tool} does, but {tool} did not run")
        return Verdict.allow()
