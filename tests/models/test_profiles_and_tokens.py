"""Profiles (one overridable table, bad values refused naming the field), cost
arithmetic, and offline token counts."""

from __future__ import annotations

import pytest

from keel.exceptions import ConfigurationError
from keel.messages import Message, ToolCallPart, Usage
from keel.models.base import ModelRequest, ToolDefinition
from keel.models.profiles import ModelProfile, ProfileTable, profile_for
from keel.models.tokens import count_request_tokens, count_tokens, have_tokenizer


def test_cost_prices_cached_input_apart_and_falls_back_to_the_input_price() -> None:
    profile = ModelProfile(input_price=2.0, cached_input_price=0.5, output_price=8.0)
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=500_000)
    assert profile.cost(usage) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 0.5 * 8.0)
    uncached = ModelProfile(input_price=2.0, output_price=8.0)
    assert uncached.cost(usage) == pytest.approx(1.0 * 2.0 + 0.5 * 8.0)


def test_worst_case_cost_is_no_cache_and_the_longest_answer() -> None:
    profile = ModelProfile(input_price=1.0, output_price=4.0, max_output_tokens=1000)
    assert profile.worst_case_cost(2000) == pytest.approx((2000 * 1.0 + 1000 * 4.0) / 1e6)
    assert profile.worst_case_cost(2000, 10) == pytest.approx((2000 + 40) / 1e6)


def test_dated_model_names_find_their_family_and_unknown_ones_get_the_default() -> None:
    assert profile_for("openai", "gpt-4o-2024-08-06") == profile_for("openai", "gpt-4o")
    assert profile_for("openai", "gpt-4o-mini-2024-07-18").input_price == 0.15
    assert profile_for("vllm", "whatever").input_price == 0.0


def test_overrides_merge_into_a_profile_and_bad_values_name_the_field() -> None:
    table = ProfileTable({"openai:gpt-4o": {"input_price": 2.5, "output_price": 10.0}})
    table.update({"openai:gpt-4o": {"input_price": 2.0}})
    assert (
        table.get("openai", "gpt-4o").input_price,
        table.get("openai", "gpt-4o").output_price,
    ) == (2.0, 10.0)
    with pytest.raises(ConfigurationError, match=r"'openai:gpt-4o'.*output_price"):
        table.update({"openai:gpt-4o": {"output_price": -1}})
    with pytest.raises(ConfigurationError, match="context_windw"):
        table.update({"azure:prod": {"context_windw": 1000}})
    with pytest.raises(ConfigurationError, match="must look like 'provider:model'"):
        table.update({"gpt-4o": {}})
    assert table.get("openai", "gpt-4o").output_price == 10.0  # a failed update changes nothing


def test_counts_are_exact_with_quicktok() -> None:
    assert have_tokenizer()
    assert count_tokens("hello world", "o200k_base") == 2
    assert count_tokens("", "cl100k_base") == 0


def test_a_request_counts_messages_tool_calls_and_tool_definitions() -> None:
    bare = ModelRequest([Message.user("Where is order A1?")])
    tool = ToolDefinition("lookup", "Look up an order.", {"type": "object", "properties": {}})
    call = ToolCallPart("lookup", {"order_id": "A1"}, "c1")
    richer = ModelRequest([*bare.messages, Message.assistant(tool_calls=[call])], tools=[tool])
    assert (
        count_request_tokens(richer)
        > count_request_tokens(bare)
        > count_tokens("Where is order A1?")
    )
