"""Agents working together: an agent called as a tool, and handoffs between agents.

`agent.as_tool()` (supervisor pattern) runs the agent as a *child run* of the calling
run: same runner, same principal, `parent_run_id` set, its usage added to the parent's,
its spans under the parent's tool span (it runs inside it), and an approval it waits on
suspends the parent's call — the parent's approval of that call reaches the child when
the call runs again. The child's run id is derived from the call's idempotency key, so
running the call again finds the same child run instead of starting a second one.

`handoff(agent)` is a tool whose outcome the loop acts on: the run continues with the
other agent, conversation and all (`keel._run.handoff`). `hand_back()` returns the run to
the agent that handed off to this one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from keel._run.handoff import HANDOFF_CHAIN, HANDOFF_KEY
from keel.context import RunContext
from keel.exceptions import ConfigurationError, RunConflictError
from keel.messages import Usage
from keel.middleware import SuspendRun
from keel.models.base import ToolDefinition
from keel.runs.pending import Approve
from keel.tools.base import ToolAnnotations, arguments_error, check_tool_name

if TYPE_CHECKING:
    from keel.agent import Agent
    from keel.result import RunResult
    from keel.run import Runner

__all__ = ["AgentTool", "HandoffTool", "hand_back", "handoff", "handoff_targets"]

_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The request, in full."}},
    "required": ["input"],
    "additionalProperties": False,
}
_REASON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reason": {"type": "string", "description": "Why, in a few words."}},
    "additionalProperties": False,
}


def _runner_of(ctx: RunContext, tool_name: str) -> Runner:
    if ctx.runner is None:
        raise ConfigurationError(f"tool {tool_name!r} must run inside a Runner's run")
    return ctx.runner


def tool_name_for(agent_name: str, prefix: str = "") -> str:
    return check_tool_name(prefix + re.sub(r"[^A-Za-z0-9_-]", "_", agent_name)[:60])


@dataclass(frozen=True, eq=False)
class AgentTool:
    """An agent the model calls like a tool; built by `Agent.as_tool()`."""

    agent: Agent[Any]
    name: str
    description: str
    annotations: ToolAnnotations = field(default_factory=lambda: ToolAnnotations(idempotent=True))
    """Idempotent: calling again with the same key returns the same child run."""

    @property
    def parameters(self) -> dict[str, Any]:
        return _INPUT_SCHEMA

    @property
    def definition(self) -> ToolDefinition:
        return ToolDefinition(self.name, self.description, _INPUT_SCHEMA)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        text = arguments.get("input")
        if not isinstance(text, str) or not text.strip():
            raise arguments_error(self.name, ["input: a non-empty string is required"])
        extra = sorted(set(arguments) - {"input"})
        if extra:
            raise arguments_error(self.name, [f"{extra[0]}: unexpected argument"])
        return {"input": text}

    async def invoke(self, arguments: dict[str, Any], ctx: RunContext) -> Any:
        runner = _runner_of(ctx, self.name)
        child_id = child_run_id(ctx, self.agent.name)
        result = await _run_child(runner, self.agent, arguments["input"], child_id, ctx)
        if result.status != "completed" and ctx.approved:
            # A person approved this call: the approval reaches what the child waits on.
            decisions = {p.id: Approve() for p in result.pending}
            result = await runner.resume(
                child_id, decisions=decisions, principal=ctx.principal, deps=ctx.deps
            )
        if result.status != "completed":
            reasons = "; ".join(p.reason for p in result.pending) or result.status
            raise SuspendRun(f"{self.agent.name} waits: {reasons}", self.agent.name)
        add_usage(ctx.usage, result.usage)
        return to_jsonable_python(result.output, fallback=str)


async def _run_child(
    runner: Runner, agent: Agent[Any], text: str, child_id: str, ctx: RunContext
) -> RunResult[Any]:
    try:
        return await runner.run(
            agent,
            text,
            run_id=child_id,
            principal=ctx.principal,
            parent_run_id=ctx.run_id,
            deps=ctx.deps,
        )
    except RunConflictError:
        # The child was running when the process died: continue it where it stopped.
        return await runner.resume(child_id, principal=ctx.principal, deps=ctx.deps)


def child_run_id(ctx: RunContext, agent_name: str) -> str:
    """Stable per parent call: `<parent run id>-<hash of call key and agent>`."""
    key = f"{ctx.idempotency_key or ctx.run_id}/{agent_name}"
    return f"{ctx.run_id}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def add_usage(total: Usage, delta: Usage) -> None:
    """Add in place: the parent's usage object is shared with its state and context."""
    total.requests += delta.requests
    total.input_tokens += delta.input_tokens
    total.output_tokens += delta.output_tokens
    total.tool_calls += delta.tool_calls


@dataclass(frozen=True, eq=False)
class HandoffTool:
    """A tool whose outcome is "the run continues with `target`"; see `handoff`."""

    target: str | None
    """The agent to hand to; None hands back to the one that handed off."""
    name: str
    description: str
    annotations: ToolAnnotations = field(default_factory=lambda: ToolAnnotations(read_only=True))
    agent: Agent[Any] | None = None

    @property
    def parameters(self) -> dict[str, Any]:
        return _REASON_SCHEMA

    @property
    def definition(self) -> ToolDefinition:
        return ToolDefinition(self.name, self.description, _REASON_SCHEMA)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        reason = arguments.get("reason", "")
        if not isinstance(reason, str):
            raise arguments_error(self.name, ["reason: must be a string"])
        return {"reason": reason}

    async def invoke(self, arguments: dict[str, Any], ctx: RunContext) -> str:
        runner = _runner_of(ctx, self.name)
        target = self.target
        if target is None:
            chain: list[str] = ctx.metadata.get(HANDOFF_CHAIN, [])
            if not chain:
                return "there is no agent to hand back to; answer the customer yourself"
            target = chain[-1]
        if self.agent is not None:
            runner.remember(self.agent)
        if runner.agent_named(target) is None:
            raise ConfigurationError(f"handoff to unknown agent {target!r}")
        back = self.target is None
        ctx.metadata[HANDOFF_KEY] = {"to": target, "reason": arguments["reason"], "back": back}
        return f"handed {'back ' if back else ''}to {target}"


def handoff(agent: Agent[Any] | str, *, description: str | None = None) -> HandoffTool:
    """A tool `transfer_to_<name>`: the run continues with `agent` (an Agent, or the name
    of one in the same App), which sees the whole conversation."""
    name = agent if isinstance(agent, str) else agent.name
    text = description or f"Hand the conversation to {name}."
    obj = None if isinstance(agent, str) else agent
    return HandoffTool(name, tool_name_for(name, "transfer_to_"), text, agent=obj)


def hand_back(*, description: str | None = None) -> HandoffTool:
    """A tool `hand_back`: return the run to the agent that handed off to this one."""
    text = description or "Hand the conversation back when the request is not yours."
    return HandoffTool(None, "hand_back", text)


def handoff_targets(agent: Agent[Any]) -> list[str]:
    """The agent names `agent`'s handoff tools name (App load checks they exist)."""
    return [t.target for t in agent.tool_map.values() if isinstance(t, HandoffTool) and t.target]
