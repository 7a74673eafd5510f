"""`AnthropicModel` through the official SDK against a local Messages-API server."""

from __future__ import annotations

import pytest

from keel.exceptions import ConfigurationError
from keel.messages import Message, ToolResultPart
from keel.models.anthropic import AnthropicModel
from keel.models.base import ModelRequest, OutputSchema, TextDelta, ToolDefinition
from keel.models.errors import (
    ContextLengthExceededError,
    MalformedResponseError,
    ModelCallError,
    ModelConnectionError,
    ModelOverloadedError,
    RateLimitedError,
)
from keel.testing.fake_llm import FakeLLMServer, FakeReply, Fault

LOOKUP = ToolDefinition(
    "lookup_order",
    "Look up an order.",
    {"type": "object", "properties": {"order_id": {"type": "string"}}},
)
ASK = ModelRequest([Message.system("Be brief."), Message.user("Where is order A1?")])


def model_for(server: FakeLLMServer, name: str = "claude-sonnet-4") -> AnthropicModel:
    return AnthropicModel(name, base_url=server.base_url, api_key="sk-ant-test")


async def test_a_text_answer_with_cache_reads_priced_apart(anthropic_server: FakeLLMServer) -> None:
    anthropic_server.script(
        FakeReply("Shipped.", usage=(1000, 200, 400), model="claude-sonnet-4-20250514")
    )
    response = await model_for(anthropic_server).request(ASK)
    assert response.message.text == "Shipped."
    assert (response.provider, response.model_name) == ("anthropic", "claude-sonnet-4-20250514")
    assert response.finish_reason == "stop"
    usage = response.usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (1000, 400, 200)
    assert usage.cost == pytest.approx((600 * 3.0 + 400 * 0.30 + 200 * 15.0) / 1e6)
    sent = anthropic_server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == "Bearer sk-ant-test"
    assert sent.body["system"] == "Be brief."
    assert sent.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Where is order A1?"}]}
    ]
    assert sent.body["max_tokens"] == 64_000  # the profile's output cap when none is asked


async def test_tool_use_and_tool_results(anthropic_server: FakeLLMServer) -> None:
    anthropic_server.script(FakeReply.calling("lookup_order", {"order_id": "A1"}))
    model = model_for(anthropic_server)
    response = await model.request(ModelRequest(ASK.messages, tools=[LOOKUP]))
    [call] = response.message.tool_calls
    assert (call.tool_name, call.arguments, response.finish_reason) == (
        "lookup_order",
        {"order_id": "A1"},
        "tool_calls",
    )
    result = ToolResultPart(call.call_id, "lookup_order", "shipped")
    await model.request(
        ModelRequest(
            [*ASK.messages, response.message, Message.tool_results([result])], tools=[LOOKUP]
        )
    )
    sent = anthropic_server.requests[1].body
    assert sent["tools"] == [
        {
            "name": "lookup_order",
            "description": "Look up an order.",
            "input_schema": LOOKUP.parameters,
        }
    ]
    assert sent["messages"][1]["content"][0]["type"] == "tool_use"
    assert sent["messages"][2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": call.call_id,
                "content": "shipped",
                "is_error": False,
            }
        ],
    }


async def test_structured_output_is_native_where_the_profile_says_so(
    anthropic_server: FakeLLMServer,
) -> None:
    schema = OutputSchema("Verdict", {"type": "object", "properties": {"ok": {"type": "boolean"}}})
    request = ModelRequest(ASK.messages, output_schema=schema)
    await model_for(anthropic_server, "claude-haiku-4-5").request(request)
    native = anthropic_server.requests[0].body
    assert native["output_config"] == {"format": {"type": "json_schema", "schema": schema.schema}}
    assert native["system"] == "Be brief."
    await model_for(anthropic_server, "claude-3-5-haiku").request(request)
    prompted = anthropic_server.requests[1].body
    assert "output_config" not in prompted
    assert '"ok"' in prompted["system"]


async def test_streaming_text_tool_calls_and_usage(anthropic_server: FakeLLMServer) -> None:
    anthropic_server.script(
        FakeReply("one two", usage=(30, 2, 0)), FakeReply.calling("lookup_order", {"order_id": "B"})
    )
    model = model_for(anthropic_server)
    events = [e async for e in model.stream(ASK)]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["one", " two"]
    final = events[-1]
    assert not isinstance(final, TextDelta)
    assert (final.usage.input_tokens, final.usage.output_tokens) == (30, 2)
    events = [e async for e in model.stream(ModelRequest(ASK.messages, tools=[LOOKUP]))]
    final = events[-1]
    assert not isinstance(final, TextDelta)
    assert final.message.tool_calls[0].arguments == {"order_id": "B"}


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.http(429, retry_after=3), RateLimitedError),
        (Fault.http(529), ModelOverloadedError),
        (Fault.http(500), ModelOverloadedError),
        (Fault.reset(), ModelConnectionError),
        (Fault.malformed(), MalformedResponseError),
        (Fault.context_length(), ContextLengthExceededError),
        (FakeReply.calling("lookup_order", "{not json"), MalformedResponseError),
    ],
)
async def test_failures_become_typed_errors(
    anthropic_server: FakeLLMServer, fault: Fault | FakeReply, error: type[ModelCallError]
) -> None:
    anthropic_server.script(fault)
    with pytest.raises(error):
        await model_for(anthropic_server).request(ASK)


async def test_a_stream_cut_mid_way_is_a_retryable_error(anthropic_server: FakeLLMServer) -> None:
    anthropic_server.script(Fault.cut_stream(FakeReply("a b c d"), after_chunks=4))
    seen: list[str] = []
    with pytest.raises(ModelCallError) as raised:
        async for event in model_for(anthropic_server).stream(ASK):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert seen == ["a", " b"]
    assert raised.value.retryable


def test_a_missing_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicModel("claude-sonnet-4")


async def test_the_sdks_standard_variables_work(
    anthropic_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_server.base_url)
    await AnthropicModel("claude-3-5-haiku").request(ASK)
    assert anthropic_server.requests[0].headers["authorization"] == "Bearer from-env"
