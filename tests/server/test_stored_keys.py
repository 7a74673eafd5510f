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
