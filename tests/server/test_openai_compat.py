"""The official `openai` SDK as a client of `/v1`: plain, streaming, tools, JSON output."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionToolParam

from tests.server.conftest import API_KEY, Served


@pytest.fixture
def client(served: Served) -> Iterator[OpenAI]:
    with OpenAI(base_url=served.url + "/v1", api_key=API_KEY, max_retries=0) as sdk:
        yield sdk


def test_models_lists_the_agents(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["echo", "payer", "plain"]


def test_a_plain_completion(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="echo",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi there"},
        ],
    )
    choice = completion.choices[0]
    assert choice.message.content == "echo: hi there"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + (
        completion.usage.completion_tokens
    )


def test_streaming_with_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_client_tools_come_back_as_tool_calls(client: OpenAI) -> None:
    tools: list[ChatCompletionToolParam] = [
        {
            "type": "function",
            "function": {
                "name": "charge_card",
                "description": "Charge the card.",
                "parameters": {
                    "type": "object",
                    "properties": {"amount": {"type": "integer"}},
                    "required": ["amount"],
                },
            },
        }
    ]
    first = client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "pay now"}], tools=tools
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "charge_card"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"amount": 5}  # type: ignore[union-attr]
    second = client.chat.completions.create(
        model="plain",
        tools=tools,
        messages=[
            {"role": "user", "content": "pay now"},
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "charged 5"},
        ],
    )
    assert second.choices[0].message.content == "done: charged 5"


def test_client_tools_stream_as_tool_call_deltas(client: OpenAI) -> None:
    tools: list[ChatCompletionToolParam] = [
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    ]
    chunks = list(
        client.chat.completions.create(
            model="plain",
            messages=[{"role": "user", "content": "pay it"}],
            tools=tools,  # type: ignore[arg-type]
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert [c.function.name for c in calls] == ["lookup"]  # type: ignore[union-attr]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_structured_output_with_a_json_schema(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "length": {"type": "integer"}},
        "required": ["answer", "length"],
    }
    completion = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "abc"}],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    assert json.loads(completion.choices[0].message.content or "") == {
        "answer": "abc",
        "length": 3,
    }


def test_an_unknown_model_is_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])


def test_a_wrong_key_is_refused(served: Served) -> None:
    sdk = OpenAI(base_url=served.url + "/v1", api_key="sk-nope", max_retries=0)
    with sdk, pytest.raises(openai.AuthenticationError):
        sdk.models.list()


def test_a_message_without_user_text_is_422(client: OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="echo", messages=[{"role": "system", "content": "x"}])
