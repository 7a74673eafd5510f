from __future__ import annotations

from pathlib import Path

import pytest

from keel import Agent, Runner
from keel.policy import PolicyRequest, PolicySet
from keel.principal import Principal
from keel.security.access import AccessDenied, PolicyGuard, RoleGrant, role_rules
from keel.security.keys import ApiKeyStore, InvalidApiKey, parse_key
from keel.testing import ScriptedModel


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_verifies_to_its_principal_and_scopes(tmp_path: Path) -> None:
    store = ApiKeyStore(tmp_path / "k.db")
    plain, record = store.create(
        tenant_id="acme",
        user_id="bot",
        name="ci",
        roles=["support"],
        agents=["support"],
        tools=["lookup_order"],
    )
    verified = store.verify(plain)
    assert verified.principal == Principal(
        user_id="bot", tenant_id="acme", roles=frozenset({"support"})
    )
    assert verified.may_use_agent("support") and not verified.may_use_agent("billing")
    assert verified.may_use_tool("lookup_order") and not verified.may_use_tool("issue_refund")
    _, secret = parse_key(plain)  # the secret may itself contain "_"
    assert secret not in (tmp_path / "k.db").read_bytes().decode("latin-1")  # hash only
    assert record.status(0) == "active"


def test_revocation_takes_effect_at_once_and_only_in_its_tenant(tmp_path: Path) -> None:
    store = ApiKeyStore(tmp_path / "k.db")
    plain, record = store.create(tenant_id="acme", name="ci")
    other = ApiKeyStore(tmp_path / "k.db")  # another process on the same database
    with pytest.raises(InvalidApiKey, match="no API key"):
        other.revoke(record.id, tenant_id="globex")
    store.verify(plain)
    other.revoke(record.id, tenant_id="acme")
    with pytest.raises(InvalidApiKey, match="revoked"):
        store.verify(plain)
    assert [k.id for k in store.list(tenant_id="globex")] == []


def test_keys_expire(tmp_path: Path) -> None:
    clock = Clock()
    store = ApiKeyStore(tmp_path / "k.db", clock=clock)
    plain, _ = store.create(tenant_id="acme", name="temp", expires_in_s=60)
    store.verify(plain)
    clock.now += 61
    with pytest.raises(InvalidApiKey, match="expired"):
        store.verify(plain)


@pytest.mark.parametrize("bad", ["", "keel_x", "keel_000000000000_" + "a" * 43, "Bearer abc"])
def test_bad_keys_are_refused_clearly(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidApiKey):
        ApiKeyStore(tmp_path / "k.db").verify(bad)


async def test_roles_decide_model_calls_tool_calls_and_data_on_one_policy(tmp_path: Path) -> None:
    policy = PolicySet(
        role_rules(
            {"support": RoleGrant(agents=["desk"], tools=["lookup_order"], resources=["orders"])}
        ),
        default="deny",
    )
    support = Principal(user_id="s", roles=frozenset({"support"}))
    guest = Principal(user_id="g")
    assert (
        await policy.evaluate(PolicyRequest.for_tool("lookup_order", {}, principal=support))
    ).allowed
    assert not (
        await policy.evaluate(PolicyRequest.for_tool("issue_refund", {}, principal=support))
    ).allowed
    model = ScriptedModel(["hello"])
    agent = Agent(name="desk", model=model, middleware=[PolicyGuard(policy)])
    assert (await Runner().run(agent, "hi", principal=support)).output == "hello"
    with pytest.raises(AccessDenied) as caught:
        await Runner().run(agent, "hi", principal=guest)
    assert "not allowed" in caught.value.reply and len(model.requests) == 1
