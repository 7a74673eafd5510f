"""The nouns of a policy decision: the request (who, through which agent, does what) and
the verdict. Plain frozen dataclasses, so a decision can be logged, audited and tested."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from keel.principal import ANONYMOUS, Principal

if TYPE_CHECKING:
    from keel.context import RunContext
    from keel.tools.base import ToolAnnotations

__all__ = ["ALLOW", "Action", "ActionKind", "Effect", "Policy", "PolicyRequest", "Verdict"]

ActionKind = Literal["tool_call", "model_call", "data_access", "approve"]
"""tool_call: `name` is the tool · model_call: the model · data_access: the resource
(a knowledge base, a table) · approve: deciding a pending tool call named `name`."""

Effect = Literal["allow", "deny", "require_approval"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Action:
    """What is being done: its kind, the name of its target, and its arguments."""

    kind: ActionKind
    name: str
    arguments: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    annotations: ToolAnnotations | None = None
    """For a tool call: the tool's declared effects (read-only, destructive…)."""


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """May `principal`, acting through `agent`, do `action`?

    `subject` is whom the action is for when that differs from the actor: for an
    `approve` action, the principal of the run that waits (so a rule can say "nobody
    approves their own refund"). `context` is the run's, when there is a run; rules reach
    the application's code through `deps`.
    """

    principal: Principal
    action: Action
    agent: str | None = None
    context: RunContext | None = None
    subject: Principal | None = None

    @property
    def arguments(self) -> Mapping[str, Any]:
        return self.action.arguments

    @property
    def deps(self) -> Any:
        return None if self.context is None else self.context.deps

    @classmethod
    def for_tool(
        cls,
        name: str,
        arguments: Mapping[str, Any],
        *,
        principal: Principal = ANONYMOUS,
        agent: str | None = None,
        context: RunContext | None = None,
        annotations: ToolAnnotations | None = None,
    ) -> PolicyRequest:
        action = Action("tool_call", name, arguments, annotations)
        return cls(principal, action, agent, context)


@dataclass(frozen=True, slots=True)
class Verdict:
    """allow, deny or require_approval; `reason` is what the model and the person read,
    `rule` names the rule that decided (empty for a policy's default)."""

    effect: Effect
    reason: str = ""
    rule: str = ""

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"


ALLOW = Verdict("allow")


@runtime_checkable
class Policy(Protocol):
    """Anything that decides requests. None means "no opinion" (the caller's default)."""

    async def evaluate(self, request: PolicyRequest) -> Verdict | None: ...
