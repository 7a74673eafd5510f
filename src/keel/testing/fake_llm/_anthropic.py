"""The Anthropic Messages wire format, as the fake server speaks it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from keel.testing.fake_llm._script import FakeReply

__all__ = ["anthropic_body", "anthropic_error", "anthropic_events"]


def _stop(reply: FakeReply) -> str:
    return reply.finish or ("tool_use" if reply.tool_calls else "end_turn")


def _usage(reply: FakeReply) -> dict[str, Any]:
    # Anthropic always reports usage; `input_tokens` excludes cache reads.
    prompt, completion, cached = reply.usage or (0, 0, 0)
    return {
        "input_tokens": prompt - cached,
        "output_tokens": completion,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def _input(arguments: dict[str, Any] | str) -> Any:
    return arguments  # a string here is invalid on purpose: `input` must be an object


def anthropic_body(reply: FakeReply, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for i, call in enumerate(reply.tool_calls):
        content.append(
            {
                "type": "tool_use",
                "id": call.id or f"toolu_{i}",
                "name": call.name,
                "input": _input(call.arguments),
            }
        )
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": reply.model or model,
        "content": content,
        "stop_reason": _stop(reply),
        "stop_sequence": None,
        "usage": _usage(reply),
    }


def anthropic_events(reply: FakeReply, model: str) -> Iterator[bytes]:
    usage = _usage(reply)
    start: dict[str, Any] = {**anthropic_body(FakeReply(usage=reply.usage), model)}
    start["content"] = []
    start["stop_reason"] = None
    start["usage"] = {**usage, "output_tokens": 1}
    yield _sse("message_start", {"type": "message_start", "message": start})
    index = 0
    if reply.text:
        yield from _text_block(index, reply)
        index += 1
    for i, call in enumerate(reply.tool_calls):
        yield from _tool_block(index, call.id or f"toolu_{i}", call.name, call.arguments_json)
        index += 1
    delta = {"stop_reason": _stop(reply), "stop_sequence": None}
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": delta,
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


def _text_block(index: int, reply: FakeReply) -> Iterator[bytes]:
    block = {"type": "text", "text": ""}
    yield _sse(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )
    words = reply.text.split(" ")
    for i in range(0, len(words), reply.chunk_words):
        piece = " ".join(words[i : i + reply.chunk_words])
        delta = {"type": "text_delta", "text": piece if i == 0 else " " + piece}
        yield _sse(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )
    yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})


def _tool_block(index: int, call_id: str, name: str, arguments: str) -> Iterator[bytes]:
    block: dict[str, Any] = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
    yield _sse(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )
    for half in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
        delta = {"type": "input_json_delta", "partial_json": half}
        yield _sse(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )
    yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})


def anthropic_error(status: int, message: str, code: str | None) -> dict[str, Any]:
    kinds = {
        429: "rate_limit_error",
        529: "overloaded_error",
        401: "authentication_error",
        400: "invalid_request_error",
        403: "permission_error",
    }
    if code == "context_length_exceeded":
        message = message or "prompt is too long: 250000 tokens > 200000 maximum"
    error = {"type": kinds.get(status, "api_error"), "message": message or f"fake {status}"}
    return {"type": "error", "error": error}


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
