"""A run as a Temporal workflow on a real dev server: model and tool calls as activities,
events over Redis, the turn stored once, approvals as signals."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from keel import Agent, App, RunContext, tool
from keel.messages import ToolResultPart
from keel.security.keys import ApiKeyStore
from keel.server.config import ServerSettings
from keel.testing import ScriptedModel, tool_call
from keel.worker import RunRequest, TemporalRuns
from keel.worker.activities import KeelActivities
from keel.worker.bus import EventBus
from keel.worker.workflow import KeelRun, serve_app
from tests.server.conftest import serve

REDIS = "redis://127.0.0.1:6379/3"
KEYS: list[str | None] = []


@tool
def send_email(to: str, ctx: RunContext) -> str:
    """Send an email."""
    KEYS.append(ctx.idempotency_key)
    return f"sent to {to}"


@tool(requires_approval=True)
def delete_account(name: str) -> str:
    """Delete an account."""
    return f"deleted {name}"


@pytest.fixture
async def worker(temporal_address: str, tmp_path: Path) -> AsyncIterator[tuple[App, str]]:
    KEYS.clear()
    mailer = Agent(
        name="mailer",
        model=ScriptedModel([tool_call("send_email", {"to": "bo"}), "mailed bo"]),
        tools=[send_email],
    )
    admin = Agent(
        name="admin",
        model=ScriptedModel([tool_call("delete_account", {"name": "x"}), "gone"]),
        tools=[delete_account],
    )
    app = App(agents=[mailer, admin], database=tmp_path / "keel.db")
    serve_app(app)
    queue = f"keel-test-{os.urandom(4).hex()}"
    client = await Client.connect(temporal_address)
    bus = EventBus(REDIS)
    async with Worker(
        client, task_queue=queue, workflows=[KeelRun], activities=KeelActivities(app, bus).all()
    ):
        yield app, queue
    await bus.close()


async def test_a_run_executes_as_a_workflow_and_streams_its_events(
    worker: tuple[App, str], temporal_address: str
) -> None:
    app, queue = worker
    runs = TemporalRuns(temporal_address, "default", queue, REDIS)
    run_id = uuid.uuid4().hex
    remote = await runs.start(
        RunRequest(run_id=run_id, agent="mailer", input="mail bo", session_id="s1")
    )
    names = [name async for name, _ in remote.wire_events()]
    assert names[0] == "run_started"
    assert "tool_call_finished" in names
    assert names[-1] == "run_finished"
    outcome = await remote.outcome(30)
    assert outcome["output"] == "mailed bo"
    assert len(KEYS) == 1  # the tool ran once, with the run's idempotency key
    assert str(KEYS[0]).startswith(f"{run_id}/1/")
    stored = await app.session_store.load("s1")
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]


async def test_an_approval_arrives_as_a_signal(
    worker: tuple[App, str], temporal_address: str
) -> None:
    _, queue = worker
    runs = TemporalRuns(temporal_address, "default", queue, REDIS)
    run_id = uuid.uuid4().hex
    remote = await runs.start(RunRequest(run_id=run_id, agent="admin", input="delete x"))
    state = await runs.state(run_id)
    while state is None or not state["undecided"]:  # until the run suspends in the workflow
        await asyncio.sleep(0.05)
        state = await runs.state(run_id)
    assert state["status"] == "suspended"
    assert [p["tool_name"] for p in state["pending"]] == ["delete_account"]
    assert state["undecided"] == ["s1c1"]
    await runs.decide(run_id, "s1c1", True, "")
    outcome = await remote.outcome(30)
    assert outcome["output"] == "gone"
    assert (await runs.state(run_id) or {})["status"] == "completed"
    assert await runs.state("no-such-run") is None


async def test_a_retried_request_after_the_run_ended_gets_its_result_not_a_new_run(
    worker: tuple[App, str], temporal_address: str
) -> None:
    _, queue = worker
    runs = TemporalRuns(temporal_address, "default", queue, REDIS)
    request = RunRequest(run_id=uuid.uuid4().hex, agent="mailer", input="mail bo")
    first = await (await runs.start(request)).outcome(30)
    again = await runs.start(request)
    assert again.ended
    assert [name async for name, _ in again.wire_events()] == ["run_finished"]
    assert await again.outcome(30) == first
    assert len(KEYS) == 1  # the tool ran once


async def test_the_callers_tool_scope_is_enforced_in_the_workflow(
    worker: tuple[App, str], temporal_address: str
) -> None:
    app, queue = worker
    runs = TemporalRuns(temporal_address, "default", queue, REDIS)
    request = RunRequest(
        run_id=uuid.uuid4().hex,
        agent="mailer",
        input="mail bo",
        session_id="scoped",
        key_id="k1",
        tools=[],
    )
    outcome = await (await runs.start(request)).outcome(30)
    assert outcome["output"] == "mailed bo"  # the run went on, told the tool was refused
    assert KEYS == []  # and the tool never ran
    stored = await app.session_store.load("scoped")
    results = [p for m in stored for p in m.parts if isinstance(p, ToolResultPart)]
    assert len(results) == 1 and results[0].is_error
    assert "API key k1 may not use tool 'send_email'" in results[0].content


async def test_a_run_for_an_agent_outside_the_callers_scope_fails(
    worker: tuple[App, str], temporal_address: str
) -> None:
    _, queue = worker
    runs = TemporalRuns(temporal_address, "default", queue, REDIS)
    request = RunRequest(
        run_id=uuid.uuid4().hex, agent="mailer", input="mail bo", key_id="k1", agents=["admin"]
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await (await runs.start(request)).outcome(30)
    assert "may not use agent 'mailer'" in str(failed.value.cause)
    assert KEYS == []


async def test_a_stored_keys_tool_scope_reaches_the_worker_through_the_api(
    worker: tuple[App, str], temporal_address: str
) -> None:
    app, queue = worker
    plain, _ = ApiKeyStore(app.database_path).create(tenant_id="acme", name="d", tools=[])
    config = ServerSettings.model_validate(
        {
            "temporal": {"address": temporal_address, "task_queue": queue},
            "stores": {"redis_url": REDIS},
        }
    )
    with contextmanager(serve)(app, config) as served:
        async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
            auth = {"Authorization": f"Bearer {plain}"}
            body = {"input": "mail bo", "agent": "mailer"}
            reply = await http.post("/sessions/api-scoped/messages", json=body, headers=auth)
    assert reply.status_code == 200, reply.text
    assert KEYS == []
    stored = await app.session_store.load("api-scoped", tenant_id="acme")
    results = [p for m in stored for p in m.parts if isinstance(p, ToolResultPart)]
    assert len(results) == 1 and "may not use tool 'send_email'" in results[0].content
