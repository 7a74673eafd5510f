"""Folding llama.cpp's stream chunks into a completion, and a completion into a response."""

from __future__ import annotations

from typing import Any

import pytest

from keel.exceptions import ModelError
from keel.messages import Usage
from keel.models.local import _completion as completions


def completion(text: str) -> completions.Completion:
    return completions.Completion(text, Usage(requests=1, input_tokens=50, output_tokens=9), "stop")


def test_a_reply_after_a_decision_counts_both_requests() -> None:
    earlier = Usage(requests=1, input_tokens=100, output_tokens=7)
    response = completions.text_response(completion("Hello"), "qwen", earlier)
    assert response.message.text == "Hello"
    assert response.usage == Usage(requests=2, input_tokens=150, output_tokens=16)


def test_stream_chunks_fold_into_text_usage_and_finish_reason() -> None:
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 24, "completion_tokens": 2}},
    ]
    accumulator = completions.StreamAccumulator()
    assert [accumulator.feed(c) for c in chunks] == ["", "Hel", "lo", "", ""]
    assert accumulator.result() == completions.Completion(
        "Hello", Usage(requests=1, input_tokens=24, output_tokens=2), "stop"
    )


def test_an_error_answer_becomes_a_model_error_with_its_message() -> None:
    error = {"error": {"code": 400, "message": "request exceeds the context size"}}
    with pytest.raises(ModelError, match="exceeds the context size"):
        completions.StreamAccumulator().feed(error)
