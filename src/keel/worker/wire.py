"""What crosses process boundaries between the API, Temporal and workers: JSON strings.

Temporal's payloads and Redis messages carry plain JSON; these adapters turn Keel's own
dataclasses (requests, responses, messages) into it and back, validated on the way in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from keel.messages import Message, ModelResponse
from keel.models.base import ModelRequest
from keel.principal import Principal
from keel.server.scopes import KeyScope

__all__ = ["RunRequest", "ToolCallRequest", "decode", "encode", "scope_fields"]


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One run a workflow executes: the agent, the user's text, where and for whom."""

    run_id: str
    agent: str
    input: str
    session_id: str | None = None
    user_id: str | None = None
    tenant_id: str = "default"
    roles: list[str] = field(default_factory=list[str])
    activity_timeout_s: float = 30.0
    """How long one attempt of a model or tool call may take before it is retried."""
    key_id: str | None = None
    """The caller's stored API key, when it was one; with `agents` and `tools`, its scope
    (None: every agent / tool), enforced by the workflow as in the API process."""
    agents: list[str] | None = None
    tools: list[str] | None = None

    @property
    def principal(self) -> Principal:
        return Principal(self.user_id, self.tenant_id, frozenset(self.roles))

    @property
    def scope(self) -> KeyScope | None:
        if self.key_id is None:
            return None
        agents = None if self.agents is None else tuple(self.agents)
        return KeyScope(self.key_id, agents, None if self.tools is None else tuple(self.tools))


def scope_fields(scope: KeyScope | None) -> dict[str, Any]:
    """`RunRequest` fields carrying the request key's scope to the workflow."""
    if scope is None:
        return {}
    agents, tools = scope.agents, scope.tools
    return {
        "key_id": scope.key_id,
        "agents": None if agents is None else list(agents),
        "tools": None if tools is None else list(tools),
    }


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """One tool call, with what the tool's `RunContext` needs (its idempotency key)."""

    run_id: str
    agent: str
    tool_name: str
    arguments: dict[str, Any]
    call_id: str
    step: int
    session_id: str | None
    user_id: str | None
    tenant_id: str
    approved: bool = False
    roles: list[str] = field(default_factory=list[str])


@cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def encode(value: ModelRequest | ModelResponse | list[Message] | Any, kind: Any) -> str:
    return _adapter(kind).dump_json(value).decode()


def decode(data: str, kind: Any) -> Any:
    return _adapter(kind).validate_json(data)
