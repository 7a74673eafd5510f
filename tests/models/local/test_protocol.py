"""The local model's wire translation, without a model: rendering, envelopes, parsing."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from keel.exceptions import ModelError
from keel.messages import Message, ToolCallPart, ToolResultPart, Usage
from keel.models.base import ModelRequest, ModelSettings, OutputSchema, ToolDefinition
from keel.models.local import _completion as completions
from keel.models.local import _protocol as protocol
from keel.tools.tool import make_tool


class Address(BaseModel):
    street: str
    city: str


def ship(order_id: str, to: Address, speed: Literal["slow", "fast"] = "slow") -> str:
    """Ship an order to an address."""
    return "ok"


def lookup_order(order_id: str) -> str:
    """Look up an order by id."""
    return "ok"


SHIP = make_tool(ship).definition
LOOKUP = make_tool(lookup_order).definition
CITY_SCHEMA = OutputSchema(
    "City",
    {
        "type": "object",
        "properties": {"name": {"type": "string"}, "home": {"$ref": "#/$defs/Address"}},
        "required": ["name", "home"],
        "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}}},
    },
)


def request(*messages: Message, **kwargs: Any) -> ModelRequest:
    return ModelRequest(messages=list(messages), **kwargs)


def completion(text: str, finish_reason: str | None = "stop") -> completions.Completion:
    return completions.Completion(
        text, Usage(requests=1, input_tokens=50, output_tokens=9), finish_reason
    )


# --- rendering ----------------------------------------------------------------------------


def test_system_messages_merge_into_one_first_message_with_the_tool_catalog() -> None:
    rendered = protocol.render_messages(
        request(Message.system("Be brief."), Message.user("hi"), tools=[LOOKUP])
    )
    assert [m["role"] for m in rendered] == ["system", "user"]
    system = rendered[0]["content"]
    assert system.startswith("Be brief.")
    assert "- lookup_order: Look up an order by id." in system
    assert '"order_id"' in system
    assert '"title"' not in system  # pydantic's titles are dropped from the prompt


def test_tool_calls_render_as_assistant_json_and_results_as_user_text() -> None:
    call = ToolCallPart("lookup_order", {"order_id": "A-1"}, "call_7")
    messages = [
        Message.user("where is A-1?"),
        Message.assistant(tool_calls=[call]),
        Message.tool_results([ToolResultPart("call_7", "lookup_order", "shipped")]),
    ]
    rendered = protocol.render_messages(request(*messages))
    assert [m["role"] for m in rendered] == ["user", "assistant", "user"]
    assert json.loads(rendered[1]["content"]) == {
        "action": "call",
        "tool": "lookup_order",
        "arguments": {"order_id": "A-1"},
    }
    assert rendered[2]["content"] == "Tool result for lookup_order (call_7): shipped"


def test_tool_errors_are_labelled_and_several_results_share_one_turn() -> None:
    results = [
        ToolResultPart("c1", "lookup_order", "shipped"),
        ToolResultPart("c2", "ship", "invalid arguments", is_error=True),
    ]
    rendered = protocol.render_messages(request(Message.tool_results(results)))
    assert rendered == [
        {
            "role": "user",
            "content": "Tool result for lookup_order (c1): shipped\n\n"
            "Tool error for ship (c2): invalid arguments",
        }
    ]


def test_consecutive_turns_of_one_role_are_merged() -> None:
    rendered = protocol.render_messages(
        request(Message.user("a"), Message.user("b"), Message.assistant("c"))
    )
    assert rendered == [
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c"},
    ]


def test_an_output_schema_is_described_in_the_system_message() -> None:
    rendered = protocol.render_messages(request(Message.user("x"), output_schema=CITY_SCHEMA))
    assert rendered[0]["role"] == "system"
    assert '"name"' in rendered[0]["content"]


# --- requests -------------------------------------------------------------------------------


def test_settings_map_to_the_request_and_unset_ones_are_left_out() -> None:
    settings = ModelSettings(temperature=0.0, max_tokens=12, seed=7)
    payload = protocol.chat_payload(request(Message.user("x"), settings=settings))
    assert payload["temperature"] == 0.0
    assert payload["max_tokens"] == 12
    assert payload["seed"] == 7
    bare = protocol.chat_payload(request(Message.user("x")))
    assert set(bare) == {"messages"}


def test_output_schema_without_tools_constrains_the_plain_request() -> None:
    payload = protocol.chat_payload(request(Message.user("x"), output_schema=CITY_SCHEMA))
    assert payload["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "City", "schema": CITY_SCHEMA.schema},
    }


def test_the_reply_request_with_tools_is_unconstrained_prose_without_the_catalog() -> None:
    call = ToolCallPart("lookup", {"order_id": "A-1"}, "c1")
    req = request(
        Message.user("where is A-1?"),
        Message.assistant(tool_calls=[call]),
        Message.tool_results([ToolResultPart("c1", "lookup", "shipped")]),
        tools=[LOOKUP],
    )
    reply = protocol.chat_payload(req)
    assert "response_format" not in reply
    text = json.dumps(reply["messages"])
    assert "You have access to these tools" not in text and '"action"' not in text
    assert reply["messages"][-2]["content"] == "(I looked this up with lookup(order_id='A-1').)"
    assert reply["messages"][-1]["content"].endswith("Do not write JSON and do not mention tools.")


def test_the_decision_is_greedy_unless_the_agent_sets_a_temperature() -> None:
    req = request(Message.user("where is A-1?"), tools=[LOOKUP])
    assert protocol.decision_payload(req)["temperature"] == 0.0
    warm = request(Message.user("x"), tools=[LOOKUP], settings=ModelSettings(temperature=0.7))
    assert protocol.decision_payload(warm)["temperature"] == 0.7


def test_the_decision_request_asks_for_the_envelope() -> None:
    req = request(Message.user("where is A-1?"), tools=[LOOKUP])
    decision = protocol.decision_payload(req)
    assert decision["messages"][-1]["content"].startswith("where is A-1?\n\n")
    assert '{"action": "reply"}' in decision["messages"][-1]["content"]
    assert decision["response_format"]["json_schema"]["name"] == "decision"


def test_the_decision_instruction_is_its_own_turn_after_an_assistant_message() -> None:
    req = request(Message.user("hi"), Message.assistant("hello"), tools=[LOOKUP])
    messages = protocol.decision_payload(req)["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]


# --- the envelope schema ------------------------------------------------------------------


def test_envelope_offers_reply_and_one_call_branch_per_tool() -> None:
    schema = protocol.decision_schema(request(Message.user("x"), tools=[LOOKUP, SHIP]))
    branches = schema["anyOf"]
    assert branches[0]["properties"] == {"action": {"const": "reply"}}
    assert [b["properties"]["tool"] for b in branches[1:]] == [
        {"const": "lookup_order"},
        {"const": "ship"},
    ]
    assert all(b["additionalProperties"] is False for b in branches)
    assert branches[1]["properties"]["arguments"]["required"] == ["order_id"]


def test_with_an_output_schema_the_envelope_offers_final_instead_of_reply() -> None:
    schema = protocol.decision_schema(
        request(Message.user("x"), tools=[LOOKUP], output_schema=CITY_SCHEMA)
    )
    first = schema["anyOf"][0]["properties"]
    assert first["action"] == {"const": "final"}
    assert first["output"]["properties"]["home"] == {"$ref": "#/$defs/output__Address"}
    assert "reply" not in json.dumps(schema)


def test_nested_definitions_are_hoisted_to_the_root_with_their_refs_rewritten() -> None:
    schema = protocol.decision_schema(
        request(Message.user("x"), tools=[SHIP], output_schema=CITY_SCHEMA)
    )
    assert set(schema["$defs"]) == {"ship__Address", "output__Address"}
    arguments = schema["anyOf"][1]["properties"]["arguments"]
    assert "$defs" not in arguments
    assert arguments["properties"]["to"] == {"$ref": "#/$defs/ship__Address"}
    every_ref = _refs(schema)
    assert every_ref and all(r.removeprefix("#/$defs/") in schema["$defs"] for r in every_ref)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


# --- decisions ----------------------------------------------------------------------------


def test_a_call_decision_becomes_a_tool_call_with_a_fresh_id() -> None:
    req = request(Message.user("x"), tools=[LOOKUP])
    text = '{"action": "call", "tool": "lookup_order", "arguments": {"order_id": "A-1"}}'
    first = protocol.interpret_decision(completion(text), req, "qwen")
    second = protocol.interpret_decision(completion(text), req, "qwen")
    assert first is not None and second is not None
    (call,) = first.message.tool_calls
    assert (call.tool_name, call.arguments) == ("lookup_order", {"order_id": "A-1"})
    assert call.call_id != second.message.tool_calls[0].call_id
    assert first.finish_reason == "tool_calls"
    assert first.usage.input_tokens == 50
    assert first.model_name == "qwen"


def test_a_final_decision_becomes_the_output_json_text() -> None:
    req = request(Message.user("x"), tools=[LOOKUP], output_schema=CITY_SCHEMA)
    text = '{"action": "final", "output": {"name": "Oslo", "home": {"city": "Oslo"}}}'
    response = protocol.interpret_decision(completion(text), req, "qwen")
    assert response is not None
    assert json.loads(response.message.text) == {"name": "Oslo", "home": {"city": "Oslo"}}
    assert not response.message.tool_calls


def test_a_reply_decision_asks_for_a_second_request() -> None:
    req = request(Message.user("x"), tools=[LOOKUP])
    assert protocol.interpret_decision(completion('{"action": "reply"}'), req, "q") is None


def test_a_truncated_decision_says_to_raise_max_tokens() -> None:
    req = request(Message.user("x"), tools=[LOOKUP])
    with pytest.raises(ModelError, match="max_tokens"):
        protocol.interpret_decision(completion('{"action": "ca', "length"), req, "q")


def test_an_unknown_action_is_a_model_error() -> None:
    req = request(Message.user("x"), tools=[LOOKUP])
    with pytest.raises(ModelError, match="unknown decision"):
        protocol.interpret_decision(completion('{"action": "dance"}'), req, "q")


def test_tool_definitions_without_descriptions_still_render() -> None:
    bare = ToolDefinition("ping", "", {"type": "object", "properties": {}})
    assert "- ping: (no description) Arguments" in protocol.tool_catalog([bare])


# --- deterministic decisions --------------------------------------------------------------


def test_a_structured_request_is_greedy_and_seeded_unless_the_agent_says_otherwise() -> None:
    structured = request(Message.user("Is this urgent?"), output_schema=CITY_SCHEMA)
    payload = protocol.chat_payload(structured)
    assert (payload["temperature"], payload["seed"]) == (0.0, 0)
    chosen = request(
        Message.user("Is this urgent?"),
        output_schema=CITY_SCHEMA,
        settings=ModelSettings(temperature=0.8, seed=7),
    )
    payload = protocol.chat_payload(chosen)
    assert (payload["temperature"], payload["seed"]) == (0.8, 7)


def test_free_text_keeps_the_models_sampling_and_decisions_are_seeded() -> None:
    payload = protocol.chat_payload(request(Message.user("Tell me a story.")))
    assert "temperature" not in payload and "seed" not in payload
    decision = protocol.decision_payload(request(Message.user("hi"), tools=[LOOKUP]))
    assert (decision["temperature"], decision["seed"]) == (0.0, 0)
