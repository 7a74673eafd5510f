"""What the request's API key may use: the agents and tools `keel keys create` scoped it to.

`StoredKeys` sets the scope of the key it verified for the rest of the request (a
context variable, so the run the request starts — a task created from it — sees it too).
A key scoped away from the agent asked for gets 403 naming the agent and the key's
agents; a call to a tool outside the key's tools is refused to the model as the tool's
error (the run goes on), since the model, not the client, picked it. Keys from a config
file, and anonymous requests, are unscoped. A run on a `keel worker` carries its key's
scope in its `RunRequest`; the workflow gives it to its `ToolScopeGuard`.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from keel.messages import ToolResultPart
from keel.middleware import Middleware, ToolCall, ToolHandler
from keel.server.problems import Problem

__all__ = ["KeyScope", "ToolScopeGuard", "current_scope"]


@dataclass(frozen=True, slots=True)
class KeyScope:
    key_id: str
    agents: tuple[str, ...] | None
    """None: every agent."""
    tools: tuple[str, ...] | None
    """None: every tool."""

    def check_agent(self, agent: str) -> None:
        if self.agents is not None and agent not in self.agents:
            raise Problem(
                403,
                f"API key {self.key_id} may not use agent {agent!r}; its scope allows "
                f"agents {list(self.agents)}",
                scope="agents",
                allowed=list(self.agents),
            )


current_scope: ContextVar[KeyScope | None] = ContextVar("keel_key_scope", default=None)


class ToolScopeGuard(Middleware):
    """Refuses calls to tools outside the request key's scope; `exempt` names tools that
    run on the client (OpenAI-compatible client tools), which the key does not govern.
    `scope`: this scope rather than the request's (a workflow, far from the request)."""

    def __init__(
        self, exempt: frozenset[str] = frozenset(), *, scope: KeyScope | None = None
    ) -> None:
        self.exempt = exempt
        self.scope = scope

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        scope = self.scope if self.scope is not None else current_scope.get()
        name = call.call.tool_name
        if scope is None or scope.tools is None or name in scope.tools or name in self.exempt:
            return await call_next(call)
        return call.deny(
            f"API key {scope.key_id} may not use tool {name!r}; its scope allows tools "
            f"{list(scope.tools)}"
        )
