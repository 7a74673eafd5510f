"""`POST /webhooks/{name}`: a delivery runs the hook's agent once; retries get the stored
run; bad deliveries get a 4xx problem document, never a run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keel import Agent, App, ConfigurationError
from keel.testing.models import FunctionModel
from keel.triggers import Webhook
from tests.server.conftest import Served, _brain, serve, settings

TICKETS = Webhook("tickets", "echo", template="New ticket: {subject}", session_field="id")


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[Served]:
    echo = Agent(name="echo", model=FunctionModel(_brain))
    app = App(agents=[echo], database=tmp_path / "keel.db", webhooks=[TICKETS])
    yield from serve(app, settings())


def _deliver(client: httpx.Client, body: Any, **headers: str) -> httpx.Response:
    return client.post("/webhooks/tickets", json=body, headers=headers)


def _problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def test_a_delivery_runs_the_agent_once_and_a_retry_returns_the_stored_run(
    hooked: Served,
) -> None:
    payload = {"id": "T-7", "subject": "printer on fire"}
    with hooked.client() as client:
        first = _deliver(client, payload, **{"Idempotency-Key": "d-1"})
        again = _deliver(client, payload, **{"Idempotency-Key": "d-1"})
        other = _deliver(client, payload, **{"X-Delivery-Id": "d-2"})
        messages = client.get("/sessions/T-7/messages").json()["messages"]
        run = client.get(f"/runs/{first.json()['run_id']}")
    assert first.status_code == again.status_code == other.status_code == 200
    body = first.json()
    assert (body["status"], body["output"]) == ("completed", "echo: New ticket: printer on fire")
    assert body["session_id"] == "T-7"
    assert again.json()["run_id"] == body["run_id"] != other.json()["run_id"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 2  # d-1 once, d-2 once
    assert run.status_code == 200  # stored under the API key's tenant: acme's run


def test_an_unknown_webhook_is_404_naming_the_known_ones(hooked: Served) -> None:
    with hooked.client() as client:
        response = client.post("/webhooks/nope", json={}, headers={"X-Delivery-Id": "d"})
    assert response.status_code == 404
    assert "no webhook named 'nope'" in _problem(response)["detail"]
    assert "tickets" in _problem(response)["detail"]


def test_bad_deliveries_are_4xx_and_run_nothing(hooked: Served) -> None:
    key = {"Idempotency-Key": "d-bad"}
    with hooked.client() as client:
        broken = client.post(
            "/webhooks/tickets",
            content=b'{"subject": ',
            headers={"Content-Type": "application/json", **key},
        )
        a_list = _deliver(client, ["not", "an", "object"], **key)
        no_id = _deliver(client, {"id": "T-1", "subject": "x"})
        missing_field = _deliver(client, {"id": "T-1"}, **key)
        text = client.post(
            "/webhooks/tickets", content=b"subject=x", headers={"Content-Type": "text/plain", **key}
        )
        runs = client.get("/runs").json()["runs"]
    with hooked.client(key=None) as client:
        anonymous = _deliver(client, {"id": "T-1", "subject": "x"}, **key)
    assert broken.status_code == 400 and "not valid JSON" in _problem(broken)["detail"]
    assert a_list.status_code == 422
    assert no_id.status_code == 400 and "Idempotency-Key" in _problem(no_id)["detail"]
    assert missing_field.status_code == 422
    assert "no field 'subject'" in _problem(missing_field)["detail"]
    assert text.status_code == 415
    assert anonymous.status_code == 401
    assert runs == []


def test_webhooks_naming_unknown_agents_fail_at_load(tmp_path: Path) -> None:
    echo = Agent(name="echo", model=FunctionModel(_brain))
    with pytest.raises(ConfigurationError, match="'triage'"):
        App(agents=[echo], webhooks=[Webhook("tickets", "triage")])
    with pytest.raises(ConfigurationError, match="two webhooks"):
        App(agents=[echo], webhooks=[Webhook("t", "echo"), Webhook("t", "echo")])
    with pytest.raises(ConfigurationError, match="webhook name"):
        App(agents=[echo], webhooks=[Webhook("a/b", "echo")])
