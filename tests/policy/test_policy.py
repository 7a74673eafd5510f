"""keel.policy: rules by kind, name, agent, role and tenant; argument rules that call the
application; deny-overrides combining; who may approve."""

from __future__ import annotations

from typing import Any

import pytest

from keel import Principal, RunContext
from keel.exceptions import ConfigurationError
from keel.policy import (
    Action,
    PolicyRequest,
    PolicySet,
    allow,
    approvers,
    deny,
    require_approval,
)
from keel.runs.pending import PendingAction
from keel.runs.state import RunState

ALICE = Principal("alice", "acme", frozenset({"customer"}))
BOB = Principal("bob", "acme", frozenset({"support"}))
MALLORY = Principal("mallory", "evil", frozenset({"support"}))


class Orders:
    """The application's code a rule asks."""

    async def owner(self, order_id: str) -> str | None:
        return {"o-1": "alice", "o-2": "bob"}.get(order_id)


def tool_request(
    name: str, args: dict[str, Any], who: Principal = ALICE, agent: str = "desk"
) -> PolicyRequest:
    ctx = RunContext(run_id="r1", agent_name=agent, deps=Orders(), principal=who)
    return PolicyRequest.for_tool(name, args, principal=who, agent=agent, context=ctx)


async def own_order(request: PolicyRequest) -> bool:
    owner = await request.deps.owner(request.arguments["order_id"])
    return owner == request.principal.user_id


SUPPORT_DESK = PolicySet(
    [
        deny(tools=["refund"], except_roles=["support"], reason="refunds are for support staff"),
        require_approval(
            tools=["refund"],
            when=lambda r: r.arguments["amount"] > 0,
            reason="every refund is approved by a person",
        ),
        deny(tools=["lookup_order"], unless=own_order, reason="that order is not yours"),
        deny(tools=["admin_*"], agents=["desk"], reason="the desk agent cannot administer"),
        deny(tenants=["evil"], reason="tenant suspended"),
    ]
)


async def test_a_tool_no_rule_names_is_allowed_by_default() -> None:
    verdict = await SUPPORT_DESK.evaluate(tool_request("weather", {}))
    assert verdict.allowed


async def test_a_role_rule_denies_with_its_reason() -> None:
    verdict = await SUPPORT_DESK.evaluate(tool_request("refund", {"amount": 5}))
    assert verdict.effect == "deny"
    assert verdict.reason == "refunds are for support staff"


async def test_an_argument_rule_requires_approval_only_when_it_holds() -> None:
    paid = await SUPPORT_DESK.evaluate(tool_request("refund", {"amount": 5}, BOB))
    free = await SUPPORT_DESK.evaluate(tool_request("refund", {"amount": 0}, BOB))
    assert (paid.effect, paid.reason) == (
        "require_approval",
        "every refund is approved by a person",
    )
    assert free.allowed


async def test_an_async_rule_asks_the_application_about_the_caller() -> None:
    mine = await SUPPORT_DESK.evaluate(tool_request("lookup_order", {"order_id": "o-1"}))
    theirs = await SUPPORT_DESK.evaluate(tool_request("lookup_order", {"order_id": "o-2"}))
    assert mine.allowed
    assert (theirs.effect, theirs.reason) == ("deny", "that order is not yours")


async def test_patterns_agents_and_tenants_select_rules() -> None:
    by_desk = await SUPPORT_DESK.evaluate(tool_request("admin_reset", {}, BOB))
    by_ops = await SUPPORT_DESK.evaluate(tool_request("admin_reset", {}, BOB, agent="ops"))
    other_tenant = await SUPPORT_DESK.evaluate(tool_request("weather", {}, MALLORY))
    assert by_desk.effect == "deny" and by_ops.allowed
    assert other_tenant.reason == "tenant suspended"


async def test_deny_overrides_approval_and_allow_whatever_the_order() -> None:
    policy = PolicySet(
        [
            allow(tools=["refund"], roles=["support"]),
            require_approval(tools=["refund"]),
            deny(tools=["refund"], when=lambda r: r.arguments["amount"] > 100, reason="too big"),
        ]
    )
    big = await policy.evaluate(tool_request("refund", {"amount": 500}, BOB))
    small = await policy.evaluate(tool_request("refund", {"amount": 5}, BOB))
    assert (big.effect, big.reason) == ("deny", "too big")
    assert small.effect == "require_approval"
    assert "approve" in small.reason and "'refund'" in small.reason


async def test_a_deny_by_default_set_names_what_was_refused() -> None:
    policy = PolicySet([allow(tools=["lookup_order"])], default="deny")
    verdict = await policy.evaluate(tool_request("refund", {"amount": 1}))
    assert verdict.effect == "deny"
    assert verdict.reason == "policy does not allow alice@acme this tool call 'refund'"


async def test_reasons_may_be_built_from_the_request() -> None:
    policy = PolicySet(
        [
            deny(
                tools=["refund"],
                when=lambda r: r.arguments["amount"] > 100,
                reason=lambda r: f"refund of {r.arguments['amount']} is over the 100 limit",
            )
        ]
    )
    verdict = await policy.evaluate(tool_request("refund", {"amount": 250}))
    assert verdict.reason == "refund of 250 is over the 100 limit"


async def test_model_calls_and_data_access_use_the_same_rules() -> None:
    policy = PolicySet(
        [
            deny(kind="model_call", names=["openai:*"], tenants=["acme"], reason="EU only"),
            deny(kind="data_access", names=["hr_docs"], except_roles=["hr"], reason="HR only"),
        ]
    )
    model = PolicyRequest(ALICE, Action("model_call", "openai:gpt-5"), "desk")
    data = PolicyRequest(ALICE, Action("data_access", "hr_docs"), "desk")
    tool = tool_request("openai:gpt-5", {})  # a tool of that name is another action
    assert (await policy.evaluate(model)).reason == "EU only"
    assert (await policy.evaluate(data)).reason == "HR only"
    assert (await policy.evaluate(tool)).allowed


def test_rules_refuse_a_single_string_where_names_belong() -> None:
    with pytest.raises(ConfigurationError, match="roles must be a collection"):
        deny(tools=["refund"], roles="support")
    with pytest.raises(ConfigurationError, match="not both"):
        deny(tools=["refund"], kind="model_call")


def _run_of(who: Principal) -> RunState:
    return RunState(run_id="r1", agent_name="desk", principal=who)


REFUND = PendingAction(
    id="s1c1", kind="tool_call", reason="r", tool_name="refund", arguments={"amount": 40}
)

APPROVERS = PolicySet(
    [
        allow(kind="approve", names=["refund"], roles=["manager"]),
        deny(
            kind="approve",
            when=lambda r: r.subject is not None and r.subject.user_id == r.principal.user_id,
            reason="nobody approves their own request",
        ),
        deny(kind="approve", when=lambda r: r.arguments.get("amount", 0) > 1000),
    ],
    default="deny",
)


def test_who_may_approve_is_a_policy() -> None:
    can_decide = approvers(APPROVERS)
    manager = Principal("carol", "acme", frozenset({"manager"}))
    assert can_decide(manager, REFUND, _run_of(ALICE))
    assert not can_decide(BOB, REFUND, _run_of(ALICE))  # no manager role
    assert not can_decide(manager, REFUND, _run_of(manager))  # their own request
    big = PendingAction(
        id="s1c1", kind="tool_call", reason="r", tool_name="refund", arguments={"amount": 5000}
    )
    assert not can_decide(manager, big, _run_of(ALICE))


def test_an_async_predicate_cannot_decide_approvals() -> None:
    async def slow(request: PolicyRequest) -> bool:
        return True

    can_decide = approvers(PolicySet([allow(kind="approve", when=slow)], default="deny"))
    with pytest.raises(ConfigurationError, match="async predicate"):
        can_decide(BOB, REFUND, _run_of(ALICE))
