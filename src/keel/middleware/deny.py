"""`DenyTools`: a tool-denial policy — named tools are refused unless the run's principal
has an allowed role. The model is told why and the run goes on, so the agent can answer
the customer honestly instead of failing."""

from __future__ import annotations

from collections.abc import Iterable

from keel.messages import ToolResultPart
from keel.middleware.base import Middleware, ToolCall, ToolHandler

__all__ = ["DenyTools"]


class DenyTools(Middleware):
    def __init__(
        self, tools: Iterable[str], *, reason: str, allow_roles: Iterable[str] = ()
    ) -> None:
        self.tools = frozenset(tools)
        self.reason = reason
        self.allow_roles = frozenset(allow_roles)

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        if call.call.tool_name in self.tools and not self._allowed(call):
            return call.deny(self.reason)
        return await call_next(call)

    def _allowed(self, call: ToolCall) -> bool:
        return not self.allow_roles.isdisjoint(call.context.principal.roles)
