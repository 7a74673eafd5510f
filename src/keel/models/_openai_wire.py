"""Keel requests as OpenAI chat-completions payloads, and answers (whole or streamed) back.

Pure functions over plain dicts and the SDK's response objects read by attribute, so the
same code serves OpenAI, Azure OpenAI and every compatible server (vLLM, Ollama, LM
Studio, llama.cpp's server, Gemini's compatible endpoint).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from keel.messages import Message, ModelResponse, ToolCallPart, ToolResultPart, Usage
from keel.models._sdk import decision_settings, parse_arguments, priced
from keel.models.base import ModelRequest
from keel.models.errors import MalformedResponseError
from keel.models.profiles import ModelProfile

__all__ = [
    "Answerer",
    "StreamAssembler",
    "chat_payload",
    "parse_completion",
    "schema_instruction",
]

FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
"""OpenAI's finish reasons as Keel's (the same words; others pass through)."""


def schema_instruction(schema: dict[str, Any]) -> str:
    """The prompt that stands in for native structured output; the loop validates."""
    return (
        "Answer with a single JSON object and nothing else. It must match this JSON "
        f"schema:\n{json.dumps(schema)}"
    )


def _message(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {"role": "tool", "tool_call_id": p.call_id, "content": p.content}
            for p in message.parts
            if isinstance(p, ToolResultPart)
        ]
    out: dict[str, Any] = {"role": message.role, "content": message.text}
    calls = message.tool_calls
    if calls:
        out["content"] = message.text or None
        out["tool_calls"] = [
            {
                "id": c.call_id,
                "type": "function",
                "function": {"name": c.tool_name, "arguments": json.dumps(c.arguments)},
            }
            for c in calls
        ]
    return [out]


def chat_payload(
    request: ModelRequest, model: str, profile: ModelProfile, *, stream: bool
) -> dict[str, Any]:
    messages = [m for message in request.messages for m in _message(message)]
    payload: dict[str, Any] = {"model": model, "messages": messages}
    if request.tools:
        payload["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    _structured(payload, request, profile)
    settings = decision_settings(request)
    for key, value in (
        ("temperature", settings.temperature),
        ("max_tokens", settings.max_tokens),
        ("seed", settings.seed),
    ):
        if value is not None:
            payload[key] = value
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return payload


def _structured(payload: dict[str, Any], request: ModelRequest, profile: ModelProfile) -> None:
    schema = request.output_schema
    if schema is None:
        return
    if profile.supports_json_schema:
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema.name, "schema": schema.schema},
        }
    else:
        instruction = {"role": "system", "content": schema_instruction(schema.schema)}
        payload["messages"] = [instruction, *payload["messages"]]


def _read(obj: Any, name: str) -> Any:
    """A field of a JSON object, decoded (a dict) or as the SDK's object (streamed)."""
    if isinstance(obj, dict):
        return cast("dict[str, Any]", obj).get(name)
    return getattr(obj, name, None)


def _usage(raw: Any, profile: ModelProfile) -> Usage | None:
    if raw is None:
        return None
    cached = _read(_read(raw, "prompt_tokens_details"), "cached_tokens") or 0
    usage = Usage(
        requests=1,
        input_tokens=int(_read(raw, "prompt_tokens") or 0),
        output_tokens=int(_read(raw, "completion_tokens") or 0),
        cached_input_tokens=int(cached),
    )
    return priced(usage, profile)


@dataclass(frozen=True, slots=True)
class Answerer:
    """Who answered, for the response and its errors."""

    provider: str
    model: str
    profile: ModelProfile

    def malformed(self, what: str) -> MalformedResponseError:
        return MalformedResponseError(
            f"{self.provider}:{self.model} {what}", provider=self.provider, model=self.model
        )


def parse_completion(body: Any, who: Answerer) -> tuple[ModelResponse, bool]:
    """The response in a chat-completions JSON body (decoded), and whether the provider
    reported usage (else the caller counts). A body of another shape is malformed."""
    try:
        return _completion(body, who)
    except (AttributeError, KeyError, IndexError, TypeError) as exc:
        what = f"answered with a body that is not a chat completion: {exc!r}"
        raise who.malformed(what) from None


def _completion(body: dict[str, Any], who: Answerer) -> tuple[ModelResponse, bool]:
    if not body.get("choices"):
        raise who.malformed("answered without choices")
    choice = body["choices"][0]
    raw = choice["message"]
    refusal = raw.get("refusal")
    text = raw.get("content") or refusal or ""
    if not isinstance(text, str):
        raise TypeError(f"message content is {type(text).__name__}, not text")
    calls = [
        ToolCallPart(
            str(c["function"]["name"]),
            parse_arguments(c["function"].get("arguments"), provider=who.provider, model=who.model),
            str(c["id"]),
        )
        for c in raw.get("tool_calls") or ()
    ]
    finish = "content_filter" if refusal else choice.get("finish_reason")
    usage = _usage(body.get("usage"), who.profile)
    response = ModelResponse(
        Message.assistant(text, tool_calls=calls),
        usage or Usage(requests=1),
        model_name=body.get("model") or who.model,
        finish_reason=FINISH_REASONS.get(finish or "", finish),
        provider=who.provider,
    )
    return response, usage is not None


@dataclass(slots=True)
class _ToolCallBuffer:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list[str])


@dataclass(slots=True)
class StreamAssembler:
    """Folds chat.completion.chunk objects into one response."""

    who: Answerer
    text: list[str] = field(default_factory=list[str])
    calls: dict[int, _ToolCallBuffer] = field(default_factory=dict[int, _ToolCallBuffer])
    finish: str | None = None
    model: str = ""
    usage: Usage | None = None

    def add(self, chunk: Any) -> str:
        """Take one chunk; returns its text (may be empty)."""
        self.model = getattr(chunk, "model", None) or self.model
        if getattr(chunk, "usage", None) is not None:
            self.usage = _usage(chunk.usage, self.who.profile)
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        self.finish = choice.finish_reason or self.finish
        delta = choice.delta
        pieces: list[Any] = list(getattr(delta, "tool_calls", None) or [])
        for piece in pieces:
            self._add_call(piece)
        text = delta.content or ""
        if text:
            self.text.append(text)
        return text

    def _add_call(self, piece: Any) -> None:
        buffer = self.calls.setdefault(piece.index, _ToolCallBuffer())
        buffer.id = piece.id or buffer.id
        function = piece.function
        if function is not None:
            buffer.name = function.name or buffer.name
            if function.arguments:
                buffer.arguments.append(function.arguments)

    def response(self) -> tuple[ModelResponse, bool]:
        who = self.who
        if self.finish is None:
            raise who.malformed("ended its stream without a finish reason (cut mid-way)")
        calls = [
            ToolCallPart(
                b.name,
                parse_arguments("".join(b.arguments), provider=who.provider, model=who.model),
                b.id,
            )
            for _, b in sorted(self.calls.items())
        ]
        response = ModelResponse(
            Message.assistant("".join(self.text), tool_calls=calls),
            self.usage or Usage(requests=1),
            model_name=self.model or who.model,
            finish_reason=FINISH_REASONS.get(self.finish, self.finish),
            provider=who.provider,
        )
        return response, self.usage is not None
