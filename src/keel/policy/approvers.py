"""Who may approve, as a policy: `Runner(can_decide=approvers(policy))`.

Deciding a pending tool call is the action `approve` on that tool, with its arguments;
the approver is the principal and the run's principal is the subject, so rules such as
"managers approve refunds", "only within their tenant", "never their own request" are
ordinary rules. The runner's decision hook is synchronous, so predicates here are too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.policy.model import Action, PolicyRequest
from keel.policy.rules import PolicySet

if TYPE_CHECKING:
    from keel.principal import Principal
    from keel.run import DecisionPolicy
    from keel.runs.pending import PendingAction
    from keel.runs.state import RunState

__all__ = ["approval_request", "approvers"]


def approval_request(
    approver: Principal,
    pending: PendingAction,
    subject: Principal,
    agent: str | None,
) -> PolicyRequest:
    action = Action("approve", pending.tool_name or "", pending.arguments)
    return PolicyRequest(approver, action, agent, None, subject)


def approvers(policy: PolicySet) -> DecisionPolicy:
    """A `Runner.can_decide` hook: True when `policy` allows the principal to decide."""

    def can_decide(principal: Principal, pending: PendingAction, state: RunState) -> bool:
        request = approval_request(principal, pending, state.principal, state.agent_name)
        return policy.evaluate_now(request).allowed

    return can_decide
