"""`OpenAIModel` through the official SDK against a local server speaking the wire format."""

from __future__ import annotations

import pytest

from keel.exceptions import ConfigurationError
from keel.messages import Message, ToolCallPart, ToolResultPart
from keel.models._openai_wire import Answerer, parse_completion
from keel.models.base import ModelRequest, ModelSettings, OutputSchema, TextDelta, ToolDefinition
from keel.models.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    MalformedResponseError,
    ModelCallError,
    ModelConnectionError,
    ModelOverloadedError,
    RateLimitedError,
)
from keel.models.openai import OpenAIModel
from keel.models.profiles import ModelProfile
from keel.models.tokens import count_request_tokens
from keel.testing.fake_llm import FakeLLMServer, FakeReply, Fault

LOOKUP = ToolDefinition(
    "lookup_order",
    "Look up an order.",
    {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
ASK = ModelRequest([Message.system("Be brief."), Message.user("Where is order A1?")])


def model_for(server: FakeLLMServer, name: str = "gpt-4o", **kwargs: object) -> OpenAIModel:
    return OpenAIModel(name, base_url=server.base_url, api_key="sk-test", **kwargs)  # type: ignore[arg-type]


async def test_a_text_answer_names_who_answered_and_what_it_cost(
    openai_server: FakeLLMServer,
) -> None:
    openai_server.script(
        FakeReply("It shipped.", usage=(1000, 200, 400), model="gpt-4o-2024-08-06")
    )
    response = await model_for(openai_server).request(ASK)
    assert response.message.text == "It shipped."
    assert (response.provider, response.model_name) == ("openai", "gpt-4o-2024-08-06")
    assert response.finish_reason == "stop"
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens) == (1000, 200, 400)
    # gpt-4o: 600 fresh input at $2.50/M, 400 cached at $1.25/M, 200 output at $10/M
    assert usage.cost == pytest.approx((600 * 2.50 + 400 * 1.25 + 200 * 10.0) / 1e6)
    sent = openai_server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert "stream" not in sent.body  # one whole answer, not a stream assembled here
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is order A1?"},
    ]


async def test_tool_calls_and_results_round_trip_in_the_wire_format(
    openai_server: FakeLLMServer,
) -> None:
    openai_server.script(FakeReply.calling("lookup_order", {"order_id": "A1"}))
    model = model_for(openai_server)
    response = await model.request(ModelRequest(ASK.messages, tools=[LOOKUP]))
    [call] = response.message.tool_calls
    assert (call.tool_name, call.arguments) == ("lookup_order", {"order_id": "A1"})
    assert response.finish_reason == "tool_calls"
    follow_up = ModelRequest(
        [
            *ASK.messages,
            response.message,
            Message.tool_results([ToolResultPart(call.call_id, "lookup_order", "shipped")]),
        ],
        tools=[LOOKUP],
    )
    await model.request(follow_up)
    sent = openai_server.requests[1].body
    assert sent["tools"][0]["function"]["name"] == "lookup_order"
    assert sent["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"order_id": "A1"}'
    assert sent["messages"][3] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": "shipped",
    }


async def test_structured_output_is_native_where_supported_and_deterministic(
    openai_server: FakeLLMServer,
) -> None:
    schema = OutputSchema("Verdict", {"type": "object", "properties": {"ok": {"type": "boolean"}}})
    await model_for(openai_server).request(ModelRequest(ASK.messages, output_schema=schema))
    body = openai_server.requests[0].body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema.schema
    assert (body["temperature"], body["seed"]) == (0.0, 0)  # the same question, the same answer


async def test_structured_output_is_prompted_where_the_profile_says_no_native_mode(
    openai_server: FakeLLMServer,
) -> None:
    schema = OutputSchema("Verdict", {"type": "object", "properties": {"ok": {"type": "boolean"}}})
    model = model_for(openai_server, "llama3", provider="ollama", profile=ModelProfile())
    request = ModelRequest(
        ASK.messages, output_schema=schema, settings=ModelSettings(temperature=0.7)
    )
    await model.request(request)
    body = openai_server.requests[0].body
    assert "response_format" not in body
    assert '"ok"' in body["messages"][0]["content"]
    assert body["temperature"] == 0.7  # an explicit choice is kept


async def test_streaming_yields_text_then_the_response_with_usage(
    openai_server: FakeLLMServer,
) -> None:
    openai_server.script(FakeReply("one two three", usage=(50, 3, 0)))
    events = [e async for e in model_for(openai_server).stream(ASK)]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["one", " two", " three"]
    final = events[-1]
    assert not isinstance(final, TextDelta)
    assert final.message.text == "one two three"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (50, 3)
    assert openai_server.requests[0].body["stream_options"] == {"include_usage": True}


async def test_streamed_tool_calls_are_assembled(openai_server: FakeLLMServer) -> None:
    openai_server.script(FakeReply.calling("lookup_order", {"order_id": "A1"}))
    events = [
        e async for e in model_for(openai_server).stream(ModelRequest(ASK.messages, tools=[LOOKUP]))
    ]
    final = events[-1]
    assert not isinstance(final, TextDelta)
    assert final.message.tool_calls == [ToolCallPart("lookup_order", {"order_id": "A1"}, "call_0")]


async def test_a_server_reporting_no_usage_is_counted_offline(openai_server: FakeLLMServer) -> None:
    openai_server.script(FakeReply("counted here", usage=None))
    response = await model_for(openai_server).request(ASK)
    assert response.usage.input_tokens == count_request_tokens(ASK, "o200k_base")
    assert response.usage.output_tokens > 0
    assert response.usage.cost > 0


@pytest.mark.parametrize(
    ("fault", "error", "retryable"),
    [
        (Fault.http(429, retry_after=7), RateLimitedError, True),
        (Fault.http(500), ModelOverloadedError, True),
        (Fault.http(503), ModelOverloadedError, True),
        (Fault.reset(), ModelConnectionError, True),
        (Fault.malformed(), MalformedResponseError, True),
        (Fault.context_length(), ContextLengthExceededError, False),
        (Fault.http(401, message="Incorrect API key"), AuthenticationError, False),
        (FakeReply.calling("lookup_order", "{not json"), MalformedResponseError, True),
        (Fault.cut_stream(FakeReply("a b c d")), ModelConnectionError, True),
        (Fault.body('{"choices": []}'), MalformedResponseError, True),
        (Fault.body('{"choices": [{"message": "hi"}]}'), MalformedResponseError, True),
        (Fault.body('{"choices": [{"message": {"content": [1]}}]}'), MalformedResponseError, True),
        (Fault.body("[1, 2]"), MalformedResponseError, True),
    ],
)
async def test_failures_become_typed_errors_that_know_if_retrying_helps(
    openai_server: FakeLLMServer,
    fault: Fault | FakeReply,
    error: type[ModelCallError],
    retryable: bool,
) -> None:
    openai_server.script(fault)
    with pytest.raises(error) as raised:
        await model_for(openai_server).request(ModelRequest(ASK.messages, tools=[LOOKUP]))
    assert raised.value.retryable is retryable
    assert raised.value.provider == "openai"
    if isinstance(raised.value, RateLimitedError):
        assert raised.value.retry_after == 7


async def test_a_stream_cut_mid_way_is_an_error_after_the_text_it_sent(
    openai_server: FakeLLMServer,
) -> None:
    openai_server.script(Fault.cut_stream(FakeReply("a b c d e f"), after_chunks=3))
    seen: list[str] = []
    with pytest.raises(ModelCallError) as raised:
        async for event in model_for(openai_server).stream(ASK):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert seen == ["a", " b"]
    assert raised.value.retryable


def test_a_missing_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="set the OPENAI_API_KEY environment variable"):
        OpenAIModel("gpt-4o")
    with pytest.raises(ConfigurationError, match="MY_KEY"):
        OpenAIModel("gpt-4o", api_key_env="MY_KEY")


async def test_the_sdks_standard_variables_work(
    openai_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    model = OpenAIModel("gpt-4o-mini", headers={"x-team": "support"})
    await model.request(ASK)
    sent = openai_server.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-from-env"
    assert sent.headers["x-team"] == "support"


async def test_a_compatible_server_needs_no_key(
    openai_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = OpenAIModel("qwen2.5", base_url=openai_server.base_url, provider="vllm")
    response = await model.request(ASK)
    assert response.provider == "vllm"
    assert model.endpoint == f"vllm:{openai_server.base_url}"


async def test_azure_deployments_use_azure_paths_and_keys(
    openai_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    origin = openai_server.base_url.removesuffix("/v1")
    model = OpenAIModel.azure("prod-gpt4o", endpoint=origin, api_version="2024-10-21")
    response = await model.request(ASK)
    assert response.provider == "azure"
    sent = openai_server.requests[0]
    assert sent.path.startswith("/openai/deployments/prod-gpt4o/chat/completions")
    assert "api-version=2024-10-21" in sent.path
    assert sent.headers["api-key"] == "azure-key"


def test_azure_without_an_endpoint_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        OpenAIModel.azure("prod", api_key="k")


def test_a_refusal_is_reported_as_a_content_filter_stop() -> None:
    body = {
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"message": {"role": "assistant", "content": None, "refusal": "I can't help."}}
        ],
    }
    who = Answerer("openai", "gpt-4o", ModelProfile())
    response, reported = parse_completion(body, who)
    assert (response.message.text, response.finish_reason) == ("I can't help.", "content_filter")
    assert response.model_name == "gpt-4o-2024-08-06"
    assert not reported  # no usage in the body: the caller counts it
