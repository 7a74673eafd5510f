"""`keel serve` checks the keys `keel keys create` made, in the app's database."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from keel import Agent, App
from keel.security.keys import ApiKeyStore
from keel.server import create_server


def _app(tmp_path: Path) -> App:
    return App(agents=[Agent(name="echo", model="test:echo")], database=tmp_path / "k.db")


def _say(http: TestClient, key: str | None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return http.post("/sessions/s1/messages", json={"input": "hi"}, headers=headers).status_code


def test_without_any_key_the_server_is_open(tmp_path: Path) -> None:
    with TestClient(create_server(_app(tmp_path))) as http:
        assert _say(http, None) == 200


def test_a_stored_key_is_required_once_one_exists_and_revocation_is_immediate(
    tmp_path: Path,
) -> None:
    app = _app(tmp_path)
    with TestClient(create_server(app)) as http:
        assert _say(http, None) == 200  # no key yet
        store = ApiKeyStore(app.database_path)
        plain, record = store.create(tenant_id="acme", name="desk", user_id="u1")
        assert _say(http, None) == 401  # a key now exists: anonymous is over
        assert _say(http, "keel_000000000000_" + "x" * 43) == 401
        assert _say(http, plain) == 200
        runs = http.get("/runs", headers={"Authorization": f"Bearer {plain}"}).json()
        assert len(runs["runs"]) == 1  # acme's own run, not the anonymous one
        store.revoke(record.id, tenant_id="acme")
        assert _say(http, plain) == 401


def _scoped_app(tmp_path: Path) -> App:
    from keel import tool
    from keel.testing import ScriptedModel
    from keel.testing.models import tool_call

    @tool
    def refund(amount: int) -> str:
        """Give money back."""
        return f"refunded {amount}"

    model = ScriptedModel([tool_call("refund", {"amount": 5}), "after the tool"])
    refunder = Agent(name="refunder", model=model, tools=[refund])
    return App(agents=[Agent(name="echo", model="test:echo"), refunder], database=tmp_path / "k.db")


def test_a_key_scoped_to_agents_gets_403_naming_the_scope(tmp_path: Path) -> None:
    app = _scoped_app(tmp_path)
    plain, _ = ApiKeyStore(app.database_path).create(tenant_id="acme", name="d", agents=["echo"])
    headers = {"Authorization": f"Bearer {plain}"}
    with TestClient(create_server(app)) as http:
        body = {"input": "hi", "agent": "refunder"}
        refused = http.post("/sessions/s1/messages", json=body, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["scope"] == "agents" and refused.json()["allowed"] == ["echo"]
        assert "refunder" in refused.json()["detail"]
        chat = {"model": "refunder", "messages": [{"role": "user", "content": "hi"}]}
        assert http.post("/v1/chat/completions", json=chat, headers=headers).status_code == 403
        allowed = http.post("/sessions/s1/messages", json={"input": "hi"}, headers=headers)
        assert allowed.status_code == 200


def test_a_tool_outside_the_key_scope_is_refused_to_the_model(tmp_path: Path) -> None:
    app = _scoped_app(tmp_path)
    plain, _ = ApiKeyStore(app.database_path).create(tenant_id="acme", name="d", tools=[])
    headers = {"Authorization": f"Bearer {plain}"}
    with TestClient(create_server(app)) as http:
        body = {"input": "refund me", "agent": "refunder"}
        reply = http.post("/sessions/s1/messages", json=body, headers=headers)
        assert reply.status_code == 200
        messages = http.get("/sessions/s1/messages", headers=headers).json()["messages"]
    results = [p for m in messages for p in m["parts"] if p.get("kind") == "tool_result"]
    assert len(results) == 1 and results[0]["is_error"]
    assert "may not use tool 'refund'" in results[0]["content"]
