"""`POST /v1/chat/completions` as served: its own route refuses bad bodies exactly as
FastAPI's routes do, stays in the OpenAPI spec, and, for an agent on a hosted model,
asks the model for one whole answer unless the caller streams; a failing model is a 502
(or its 429), not a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from keel import Agent, App
from keel.models.openai import OpenAIModel
from keel.observability.query import TraceQuery
from keel.testing.fake_llm import FakeLLMServer, FakeReply, Fault
from tests.server.conftest import API_KEY, Served, serve, settings

ASK = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Where is A1?"}]}


@pytest.fixture
def upstream() -> Iterator[FakeLLMServer]:
    with FakeLLMServer("openai") as server:
        yield server


@pytest.fixture
def forwarding(upstream: FakeLLMServer, tmp_path: Path) -> Iterator[Served]:
    model = OpenAIModel("gpt-4o-mini", base_url=upstream.base_url, api_key="sk-up")
    app = App(agents=[Agent(name="gpt-4o-mini", model=model)], database=tmp_path / "k.db")
    yield from serve(app, settings())


def _problem(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        (
            {"content": b'{"model": "echo"', "headers": {"Content-Type": "application/json"}},
            400,
            "body.16",
        ),
        ({"content": b"", "headers": {"Content-Type": "application/json"}}, 422, "body"),
        ({"json": [1, 2]}, 422, "body"),
        ({"json": {"model": "echo"}}, 422, "body.messages"),
        (
            {"json": {"model": "echo", "n": 2, "messages": [{"role": "user", "content": "x"}]}},
            422,
            "body.n",
        ),
        ({"json": {"model": "echo", "messages": [{"role": "robot"}]}}, 422, "body.messages.0.role"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    served: Served, kwargs: dict[str, Any], status: int, field: str
) -> None:
    with served.client() as client:
        response = client.post("/v1/chat/completions", **kwargs)
    assert response.status_code == status
    assert field in [e["field"] for e in _problem(response)["errors"]]


def test_content_type_key_size_and_method_are_checked_as_everywhere(served: Served) -> None:
    plain = {"content": b"x=1", "headers": {"Content-Type": "text/plain"}}
    with served.client() as client:
        assert client.post("/v1/chat/completions", **plain).status_code == 415
        big = ASK | {"messages": [{"role": "user", "content": "x" * 70_000}]}
        assert client.post("/v1/chat/completions", json=big).status_code == 413
        assert client.get("/v1/chat/completions").status_code == 405
    with served.client(key="sk-wrong") as client:
        refused = client.post("/v1/chat/completions", json=ASK | {"model": "echo"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")


def test_the_route_is_in_the_openapi_spec(served: Served) -> None:
    with served.client() as client:
        spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/chat/completions"]["post"]
    assert "ChatRequest" in str(operation["requestBody"])


def test_a_caller_that_does_not_stream_gets_one_whole_upstream_answer(
    forwarding: Served, upstream: FakeLLMServer
) -> None:
    upstream.script(FakeReply("It shipped.", usage=(12, 3, 0)))
    with OpenAI(base_url=forwarding.url + "/v1", api_key=API_KEY, max_retries=0) as sdk:
        completion = sdk.chat.completions.create(**ASK)  # pyright: ignore[reportCallIssue, reportArgumentType, reportUnknownVariableType]
    assert completion.choices[0].message.content == "It shipped."
    assert completion.usage is not None and completion.usage.prompt_tokens == 12
    assert "stream" not in upstream.requests[-1].body


def test_a_streaming_caller_streams_from_the_upstream(
    forwarding: Served, upstream: FakeLLMServer
) -> None:
    upstream.script(FakeReply("It has shipped."))
    with OpenAI(base_url=forwarding.url + "/v1", api_key=API_KEY, max_retries=0) as sdk:
        chunks = list(sdk.chat.completions.create(**ASK, stream=True))  # pyright: ignore[reportCallIssue, reportArgumentType, reportUnknownArgumentType, reportUnknownVariableType]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType, reportUnknownVariableType]
    assert text == "It has shipped."
    assert upstream.requests[-1].body["stream"] is True


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.http(500), 502),
        (Fault.http(401, message="Incorrect API key"), 502),
        (Fault.malformed(), 502),
        (Fault.reset(), 502),
        (Fault.body('{"choices": []}'), 502),
        (Fault.http(429, retry_after=7), 429),
    ],
)
def test_a_failing_upstream_is_a_problem_and_the_connection_lives_on(
    forwarding: Served, upstream: FakeLLMServer, fault: Fault, status: int
) -> None:
    upstream.script(fault)
    with forwarding.client() as client:
        failed = client.post("/v1/chat/completions", json=ASK)
        assert failed.status_code == status
        assert "openai:gpt-4o-mini" in _problem(failed)["detail"]
        if status == 429:
            assert failed.headers["retry-after"] == "7"
        upstream.script(FakeReply("ok"))
        again = client.post("/v1/chat/completions", json=ASK)  # the same connection
    assert again.json()["choices"][0]["message"]["content"] == "ok"


def test_a_v1_run_is_traced_like_every_run_of_an_observed_app(
    forwarding: Served, upstream: FakeLLMServer
) -> None:
    upstream.script(FakeReply("It shipped."))
    with forwarding.client() as client:
        assert client.post("/v1/chat/completions", json=ASK).status_code == 200
    assert forwarding.app.telemetry.flush()
    found = forwarding.app.trace_store.search(TraceQuery(agent="gpt-4o-mini"))
    assert [(s.user_id, s.tenant_id, s.status) for s in found] == [("alice", "acme", "completed")]
