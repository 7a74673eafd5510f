"""The OpenAI chat-completions request, as far as Keel serves it, and its translation.

Fields Keel does not use (`n` = 1 aside, `logprobs`, `user`…) are accepted and ignored,
as OpenAI-compatible servers do, so any OpenAI client works unchanged.
"""

from __future__ import annotations

import json
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from keel.exceptions import ToolArgumentsError
from keel.messages import Message, Part, TextPart, ToolCallPart, ToolResultPart
from keel.models.base import OutputSchema
from keel.server.problems import Problem

__all__ = ["ChatRequest", "ToolSpec", "to_messages"]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionSpec(_Loose):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ToolSpec(_Loose):
    type: Literal["function"]
    function: FunctionSpec


class FunctionCallIn(_Loose):
    name: str
    arguments: str


class ToolCallIn(_Loose):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallIn


class ChatMessage(_Loose):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class JsonSchemaSpec(_Loose):
    name: str = Field(default="output", min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Loose):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None

    def output_schema(self) -> OutputSchema | None:
        if self.type == "text":
            return None
        if self.type == "json_object" or self.json_schema is None:
            return OutputSchema("json_object", {"type": "object"})
        return OutputSchema(self.json_schema.name, self.json_schema.schema_)


class StreamOptions(_Loose):
    include_usage: bool = False


class ChatRequest(_Loose):
    model: str = Field(min_length=1, description="The Keel agent's name.")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolSpec] | None = None
    response_format: ResponseFormat | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)


def to_messages(messages: list[ChatMessage]) -> list[Message]:
    """OpenAI messages as Keel messages; 422 naming the message that does not fit."""
    converted: list[Message] = []
    for index, message in enumerate(messages):
        try:
            converted.append(_convert(message))
        except (ValueError, ToolArgumentsError) as exc:
            raise Problem(422, f"messages.{index}: {exc}") from None
    if not any(m.role == "user" for m in converted):
        raise Problem(422, "messages: at least one user message is required")
    return converted


def _convert(message: ChatMessage) -> Message:
    text = _text(message.content)
    if message.role in ("system", "developer"):
        return Message.system(text)
    if message.role == "user":
        if not text.strip():
            raise ValueError("a user message needs text content")
        return Message.user(text)
    if message.role == "assistant":
        calls = [_call(c) for c in message.tool_calls or ()]
        return Message.assistant(text, tool_calls=calls)
    if not message.tool_call_id:
        raise ValueError("a tool message needs tool_call_id")
    result = ToolResultPart(message.tool_call_id, message.name or "tool", text)
    parts: tuple[Part, ...] = (result,)
    return Message("tool", parts)


def _call(call: ToolCallIn) -> ToolCallPart:
    try:
        arguments = json.loads(call.function.arguments or "{}")
    except json.JSONDecodeError:
        raise ValueError(f"tool call {call.id!r} has arguments that are not JSON") from None
    if not isinstance(arguments, dict):
        raise ValueError(f"tool call {call.id!r} arguments must be a JSON object")
    return ToolCallPart(call.function.name, cast("dict[str, Any]", arguments), call.id)


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    pieces: list[str] = []
    for part in content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ValueError(f"only text content parts are served, got {part.get('type')!r}")
        pieces.append(part["text"])
    return "".join(pieces)


def text_of(message: Message) -> str:
    return "".join(p.text for p in message.parts if isinstance(p, TextPart))
