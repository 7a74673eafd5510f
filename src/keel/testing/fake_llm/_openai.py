"""The OpenAI chat-completions wire format, as the fake server speaks it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from keel.testing.fake_llm._script import FakeReply

__all__ = ["openai_body", "openai_error", "openai_events"]


def _finish(reply: FakeReply) -> str:
    return reply.finish or ("tool_calls" if reply.tool_calls else "stop")


def _usage(reply: FakeReply) -> dict[str, Any] | None:
    if reply.usage is None:
        return None
    prompt, completion, cached = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def _tool_calls(reply: FakeReply) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id or f"call_{i}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json},
        }
        for i, call in enumerate(reply.tool_calls)
    ]


def openai_body(reply: FakeReply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": reply.model or model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply)}],
    }
    usage = _usage(reply)
    if usage is not None:
        body["usage"] = usage
    return body


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def openai_events(reply: FakeReply, model: str, include_usage: bool) -> Iterator[bytes]:
    """SSE lines: a role chunk, text pieces, tool-call pieces, the finish, usage, [DONE]."""
    model = reply.model or model
    yield _sse(_chunk(model, {"role": "assistant", "content": ""}))
    words = reply.text.split(" ")
    for i in range(0, len(words) if reply.text else 0, reply.chunk_words):
        piece = " ".join(words[i : i + reply.chunk_words])
        yield _sse(_chunk(model, {"content": piece if i == 0 else " " + piece}))
    for index, call in enumerate(_tool_calls(reply)):
        head = {"index": index, "id": call["id"], "type": "function"}
        head["function"] = {"name": call["function"]["name"], "arguments": ""}
        yield _sse(_chunk(model, {"tool_calls": [head]}))
        arguments = call["function"]["arguments"]
        for half in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
            yield _sse(
                _chunk(model, {"tool_calls": [{"index": index, "function": {"arguments": half}}]})
            )
    yield _sse(_chunk(model, {}, _finish(reply)))
    usage = _usage(reply)
    if include_usage and usage is not None:
        yield _sse({**_chunk(model, {}), "choices": [], "usage": usage})
    yield b"data: [DONE]\n\n"


def openai_error(status: int, message: str, code: str | None) -> dict[str, Any]:
    kind = {429: "rate_limit_exceeded", 401: "invalid_request_error"}.get(status, "server_error")
    if status == 400:
        kind = "invalid_request_error"
    return {"error": {"message": message or f"fake error {status}", "type": kind, "code": code}}


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()
