"""API keys for a PostgreSQL app (real PostgreSQL): hashes only, scopes, expiry, and a
revocation seen at once by another process (another pool, another server)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from keel import Agent, App
from keel.cli import cli
from keel.security.keys import InvalidApiKey, parse_key
from keel.server import create_server
from keel.storage.postgres_keys import PostgresApiKeyStore
from tests.pg import app_module, pg_database, schema_url

__all__ = ["pg_database"]


async def test_keys_are_shared_through_postgres_and_revoked_at_once(
    pg_database: str, tmp_path: Path
) -> None:
    url = schema_url(pg_database, str(tmp_path))
    one, two = PostgresApiKeyStore(url), PostgresApiKeyStore(url)  # two processes
    assert not await two.has_keys()
    plain, record = await one.create(
        tenant_id="acme", name="desk", user_id="u1", roles=["support"], agents=["echo"]
    )
    verified = await two.verify_key(plain)
    assert verified.principal.tenant_id == "acme" and verified.principal.user_id == "u1"
    assert verified.key.agents == ("echo",) and verified.key.tools is None
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT * FROM api_keys").fetchall()
    _, secret = parse_key(plain)  # the secret may itself contain "_"
    assert len(rows) == 1 and not any(secret in str(c) for c in rows[0])
    with pytest.raises(InvalidApiKey, match="unknown"):
        await two.verify_key(plain[:-1] + ("A" if plain[-1] != "A" else "B"))
    with pytest.raises(InvalidApiKey):  # another tenant cannot revoke it
        await two.revoke(record.id, tenant_id="globex")
    await two.revoke(record.id, tenant_id="acme")
    with pytest.raises(InvalidApiKey, match="revoked"):
        await one.verify_key(plain)
    assert [k.status(0) for k in await one.list(tenant_id="acme")] == ["revoked"]
    await one.db.close()
    await two.db.close()


async def test_an_expired_key_is_refused(pg_database: str, tmp_path: Path) -> None:
    now = [1000.0]
    store = PostgresApiKeyStore(schema_url(pg_database, str(tmp_path)), clock=lambda: now[0])
    plain, _ = await store.create(tenant_id="acme", name="short", expires_in_s=60)
    assert (await store.verify_key(plain)).key.id
    now[0] += 61
    with pytest.raises(InvalidApiKey, match="expired"):
        await store.verify_key(plain)
    await store.db.close()


def test_keel_keys_manage_a_postgres_apps_keys_and_two_servers_obey_them(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = schema_url(pg_database, str(tmp_path))
    target = app_module(tmp_path, url, monkeypatch)
    runner = CliRunner()
    create = ["create", "--name", "ci", "--tenant", "acme", "--agent", "echo"]
    created = runner.invoke(cli, ["keys", *create, "--app", target, "--json"])
    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)
    with psycopg.connect(url) as conn:  # in PostgreSQL, not the app's local SQLite file
        assert conn.execute("SELECT id FROM api_keys").fetchall() == [(key["id"],)]
    listed = runner.invoke(cli, ["keys", "list", "--app", target, "--json"])
    assert [k["id"] for k in json.loads(listed.stdout)] == [key["id"]]
    agents = [Agent(name=n, model="test:echo") for n in ("echo", "other")]
    apps = [App(agents=agents, database=url) for _ in range(2)]
    auth = {"Authorization": f"Bearer {key['key']}"}
    with TestClient(create_server(apps[0])) as a, TestClient(create_server(apps[1])) as b:
        say = {"input": "hi"}
        assert a.post("/sessions/s1/messages", json=say).status_code == 401  # no key sent
        assert a.post("/sessions/s1/messages", json=say, headers=auth).status_code == 200
        other = {"input": "hi", "agent": "other"}
        refused = b.post("/sessions/s2/messages", json=other, headers=auth)
        assert refused.status_code == 403 and refused.json()["allowed"] == ["echo"]
        revoke = ["keys", "revoke", key["id"], "--tenant", "acme", "--app", target]
        revoked = runner.invoke(cli, revoke)
        assert revoked.exit_code == 0, revoked.output
        assert b.post("/sessions/s1/messages", json=say, headers=auth).status_code == 401
        assert a.post("/sessions/s1/messages", json=say, headers=auth).status_code == 401
