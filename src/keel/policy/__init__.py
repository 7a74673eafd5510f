"""`keel.policy`: one place that decides what a principal may do through an agent.

A request names who (`Principal`), through which agent, does what (`Action`: a tool call
with its arguments, a model call, a data access, or approving a pending action). A policy
answers allow, deny (with the reason the model and the operator read) or
require_approval. Rules match by action kind and name, agent, role and tenant, and may
read the arguments, the principal and the run's `deps` to call the application's code
("only the caller's own orders"). `PolicySet` combines rules: deny beats
require_approval beats allow; what no rule matches gets the set's default.

    from keel.policy import PolicySet, allow, deny, require_approval

    policy = PolicySet([
        deny(tools=["issue_refund"], except_roles=["support"], reason="support staff only"),
        require_approval(tools=["issue_refund"], when=lambda r: r.arguments["amount"] > 0,
                         reason="every refund is approved by a person"),
    ])
"""

from keel.policy.approvers import approvers
from keel.policy.model import (
    ALLOW,
    Action,
    ActionKind,
    Effect,
    Policy,
    PolicyRequest,
    Verdict,
)
from keel.policy.rules import PolicySet, Predicate, Rule, allow, deny, require_approval

__all__ = [
    "ALLOW",
    "Action",
    "ActionKind",
    "Effect",
    "Policy",
    "PolicyRequest",
    "PolicySet",
    "Predicate",
    "Rule",
    "Verdict",
    "allow",
    "approvers",
    "deny",
    "require_approval",
]
