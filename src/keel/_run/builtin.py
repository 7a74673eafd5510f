"""`ApprovalGate`: the middleware every run with an approval-requiring tool gets.

It uses the same seam as application middleware (innermost, so a policy can deny a call
before a person is bothered): it suspends a call to a tool annotated `requires_approval`
once its arguments are valid, so a person approves the exact payload that will run.
"""

from __future__ import annotations

from keel.exceptions import ToolArgumentsError
from keel.messages import ToolResultPart
from keel.middleware import Middleware, ToolCall, ToolHandler

__all__ = ["ApprovalGate"]


class ApprovalGate(Middleware):
    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        tool = call.tool
        if tool is None or not tool.annotations.requires_approval or call.approved:
            return await call_next(call)
        try:
            tool.validate(call.arguments)
        except ToolArgumentsError:
            return await call_next(call)  # reports the bad arguments; nobody is asked
        call.require_approval(f"{tool.name} requires a person's approval")
        return await call_next(call)  # unreachable: require_approval raised
