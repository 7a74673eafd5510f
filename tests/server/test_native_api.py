"""Contract tests for Keel's own API, over real HTTP against a running server."""

from __future__ import annotations

import json
import time

import httpx

from tests.server.conftest import Served


def _sse(response: httpx.Response) -> list[tuple[str, dict[str, object]]]:
    events: list[tuple[str, dict[str, object]]] = []
    name = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_health_and_readiness_answer_without_a_key(served: Served) -> None:
    with served.client(key=None) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_metrics_are_prometheus_text_read_by_prometheus_own_parser(served: Served) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with served.client() as client:
        session = client.post("/sessions").json()["session_id"]
        assert client.post(f"/sessions/{session}/messages", json={"input": "hi"}).is_success
    assert served.app.telemetry.flush()
    with served.client(key=None) as client:
        scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    runs = [
        sample
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.name == "keel_runs_total" and sample.labels["gen_ai_agent_name"] == "echo"
    ]
    assert runs and sum(s.value for s in runs) >= 1  # the process's metrics: other tests add


def test_a_message_runs_the_agent_and_is_stored_in_the_session(served: Served) -> None:
    with served.client() as client:
        session = client.post("/sessions").json()["session_id"]
        reply = client.post(f"/sessions/{session}/messages", json={"input": "hello"})
        assert reply.status_code == 200
        assert reply.json()["output"] == "echo: hello"
        assert reply.json()["status"] == "completed"
        stored = client.get(f"/sessions/{session}/messages").json()["messages"]
        assert [m["role"] for m in stored] == ["user", "assistant"]
        assert session in client.get("/sessions").json()["sessions"]


def test_a_repeated_run_id_returns_the_same_run_and_stores_the_turn_once(served: Served) -> None:
    with served.client() as client:
        body = {"input": "once", "run_id": "run-abc"}
        first = client.post("/sessions/s1/messages", json=body).json()
        second = client.post("/sessions/s1/messages", json=body).json()
        assert first["run_id"] == second["run_id"] == "run-abc"
        stored = client.get("/sessions/s1/messages").json()["messages"]
    assert len(stored) == 2


def test_streaming_sends_the_run_events_as_sse(served: Served) -> None:
    with (
        served.client() as client,
        client.stream(
            "POST",
            "/sessions/s2/messages",
            json={"input": "stream me please"},
            headers={"Accept": "text/event-stream"},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse(response)
    names = [name for name, _ in events]
    assert names[0] == "run_started"
    assert names[-1] == "run_finished"
    text = "".join(str(d["text"]) for n, d in events if n == "text_delta")
    assert text == "echo: stream me please"


def test_a_client_that_disconnects_mid_stream_loses_nothing(served: Served) -> None:
    with served.client() as client:
        with client.stream(
            "POST", "/sessions/s3/messages", json={"input": "bye", "stream": True}
        ) as response:
            next(response.iter_lines())  # read the first line, then hang up
        stored = client.get("/sessions/s3/messages")
        for _ in range(500):  # the run finishes on its own, after the client left
            if stored.status_code == 200:
                break
            time.sleep(0.01)
            stored = client.get("/sessions/s3/messages")
        assert [m["role"] for m in stored.json()["messages"]] == ["user", "assistant"]


def test_approve_a_pending_tool_call_over_http(served: Served) -> None:
    with served.client() as client:
        reply = client.post("/sessions/p1/messages", json={"input": "pay", "agent": "payer"})
        run = reply.json()
        assert run["status"] == "suspended"
        run_id = run["run_id"]
        pending = client.get(f"/runs/{run_id}/pending").json()
        assert pending["undecided"] == [run["pending"][0]["id"]]
        assert pending["pending"][0]["tool_name"] == "wire_money"
        done = client.post(f"/runs/{run_id}/approve", json={})
        assert done.json()["status"] == "completed"
        assert done.json()["output"] == "done: sent 5"
        assert client.get(f"/runs/{run_id}").json()["status"] == "completed"
        again = client.post(f"/runs/{run_id}/approve", json={})
        assert again.status_code == 409


def test_reject_names_the_reason_to_the_model(served: Served) -> None:
    with served.client() as client:
        run = client.post("/sessions/p2/messages", json={"input": "pay", "agent": "payer"}).json()
        done = client.post(f"/runs/{run['run_id']}/reject", json={"reason": "too much"})
    assert done.json()["status"] == "completed"
    assert "too much" in done.json()["output"]


def test_runs_are_listed_per_tenant(served: Served) -> None:
    with served.client() as client:
        client.post("/sessions/l1/messages", json={"input": "hi"})
        runs = client.get("/runs", params={"session_id": "l1"}).json()["runs"]
    assert len(runs) == 1
    assert runs[0]["status"] == "completed"
