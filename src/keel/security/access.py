"""Roles → agent and tool permissions, written as `keel.policy` rules so that one
policy point decides tool calls (through the tool gateway), model calls and data access.

    policy = PolicySet(role_rules({
        "support": RoleGrant(agents=["support"], tools=["lookup_order", "issue_refund"]),
        "viewer": RoleGrant(agents=["support"], tools=["lookup_order"]),
    }), default="deny")

`PolicyGuard` asks the same policy before each model call (action `model_call`, named
after the agent): a denied principal gets a polite reply, the model is never called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from keel.exceptions import RunBlocked
from keel.messages import ModelResponse
from keel.middleware.base import Middleware, ModelCall, ModelHandler
from keel.policy import Action, Policy, PolicyRequest, Rule, allow

__all__ = ["AccessDenied", "PolicyGuard", "RoleGrant", "role_rules"]

DENIED_REPLY = "Sorry, your account is not allowed to use this assistant."


@dataclass(frozen=True, slots=True)
class RoleGrant:
    agents: Sequence[str] = ()
    tools: Sequence[str] = ()
    resources: Sequence[str] = ()


def role_rules(grants: Mapping[str, RoleGrant]) -> list[Rule]:
    """Allow rules: a role may call its agents' models, use its tools, read its resources.
    Combine with `PolicySet(..., default="deny")` for least privilege."""
    rules: list[Rule] = []
    for role, grant in grants.items():
        if grant.agents:
            rules.append(
                allow(kind="model_call", agents=grant.agents, roles=[role], name=f"{role}:agents")
            )
        if grant.tools:
            rules.append(allow(tools=grant.tools, roles=[role], name=f"{role}:tools"))
        if grant.resources:
            rules.append(
                allow(kind="data_access", names=grant.resources, roles=[role], name=f"{role}:data")
            )
    return rules


class AccessDenied(RunBlocked):
    pass


class PolicyGuard(Middleware):
    def __init__(self, policy: Policy, *, reply: str = DENIED_REPLY) -> None:
        self.policy, self.reply = policy, reply

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        ctx = call.context
        request = PolicyRequest(
            ctx.principal, Action("model_call", ctx.agent_name), ctx.agent_name, ctx
        )
        verdict = await self.policy.evaluate(request)
        if verdict is not None and verdict.effect == "deny":
            raise AccessDenied(
                f"{ctx.principal.label} may not use agent {ctx.agent_name!r}: {verdict.reason}",
                reply=self.reply,
            )
        return await call_next(call)
