"""Keel requests as Anthropic Messages payloads, and answers (whole or streamed) back.

System messages become the `system` parameter; tool results travel as `tool_result`
blocks in a user turn, as the Messages API wants; structured output is native
(`output_config.format`) where the profile says the model has it, else prompted, and
validated by the loop either way. The Messages API of SDK 2.x takes no sampling
settings (`temperature`, `seed`): decisions are as deterministic as the model makes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keel.messages import Message, ModelResponse, TextPart, ToolCallPart, ToolResultPart, Usage
from keel.models._openai_wire import Answerer, schema_instruction
from keel.models._sdk import parse_arguments, priced
from keel.models.base import ModelRequest
from keel.models.errors import MalformedResponseError
from keel.models.profiles import ModelProfile

__all__ = ["MessageAssembler", "messages_payload", "parse_message"]

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}


def _blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ToolCallPart):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": part.call_id,
                    "name": part.tool_name,
                    "input": part.arguments,
                }
            )
        elif isinstance(part, ToolResultPart):  # pyright: ignore[reportUnnecessaryIsInstance]
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": part.call_id,
                    "content": part.content,
                    "is_error": part.is_error,
                }
            )
    return blocks


def messages_payload(
    request: ModelRequest, model: str, profile: ModelProfile, *, stream: bool
) -> dict[str, Any]:
    system = [m.text for m in request.messages if m.role == "system"]
    schema = request.output_schema
    if schema is not None and not profile.supports_json_schema:
        system.append(schema_instruction(schema.schema))
    turns = [
        {"role": "assistant" if m.role == "assistant" else "user", "content": _blocks(m)}
        for m in request.messages
        if m.role != "system"
    ]
    settings = request.settings
    payload: dict[str, Any] = {
        "model": model,
        "messages": [t for t in turns if t["content"]],
        "max_tokens": settings.max_tokens or profile.max_output_tokens,
    }
    if system:
        payload["system"] = "\n\n".join(system)
    if request.tools:
        payload["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
    if schema is not None and profile.supports_json_schema:
        payload["output_config"] = {"format": {"type": "json_schema", "schema": schema.schema}}
    if stream:
        payload["stream"] = True
    return payload


def _usage(raw: Any, profile: ModelProfile, output_tokens: int | None = None) -> Usage:
    cached = int(getattr(raw, "cache_read_input_tokens", None) or 0)
    created = int(getattr(raw, "cache_creation_input_tokens", None) or 0)
    usage = Usage(
        requests=1,
        input_tokens=int(getattr(raw, "input_tokens", 0) or 0) + cached + created,
        output_tokens=int(getattr(raw, "output_tokens", 0) or 0)
        if output_tokens is None
        else output_tokens,
        cached_input_tokens=cached,
    )
    return priced(usage, profile)


def _call(block_id: str, name: str, arguments: Any, who: Answerer) -> ToolCallPart:
    return ToolCallPart(
        name, parse_arguments(arguments, provider=who.provider, model=who.model), block_id
    )


def parse_message(raw: Any, who: Answerer) -> ModelResponse:
    text: list[str] = []
    calls: list[ToolCallPart] = []
    blocks: list[Any] = list(raw.content or [])
    for block in blocks:
        if block.type == "text":
            text.append(str(block.text))
        elif block.type == "tool_use":
            calls.append(_call(str(block.id), str(block.name), block.input, who))
    stop = raw.stop_reason
    return ModelResponse(
        Message.assistant("".join(text), tool_calls=calls),
        _usage(raw.usage, who.profile),
        model_name=raw.model or who.model,
        finish_reason=STOP_REASONS.get(stop or "", stop),
        provider=who.provider,
    )


@dataclass(slots=True)
class _Block:
    kind: str
    id: str = ""
    name: str = ""
    json: list[str] = field(default_factory=list[str])


@dataclass(slots=True)
class MessageAssembler:
    """Folds Messages stream events into one response."""

    who: Answerer
    text: list[str] = field(default_factory=list[str])
    blocks: dict[int, _Block] = field(default_factory=dict[int, _Block])
    calls: list[ToolCallPart] = field(default_factory=list[ToolCallPart])
    start_usage: Any = None
    output_tokens: int | None = None
    stop: str | None = None
    model: str = ""
    ended: bool = False

    def add(self, event: Any) -> str:
        """Take one event; returns its text (may be empty)."""
        kind = event.type
        if kind == "message_start":
            self.start_usage, self.model = event.message.usage, event.message.model
        elif kind == "content_block_start":
            block = event.content_block
            self.blocks[event.index] = _Block(
                block.type, getattr(block, "id", ""), getattr(block, "name", "")
            )
        elif kind == "content_block_delta":
            return self._delta(event)
        elif kind == "content_block_stop":
            self._close(event.index)
        elif kind == "message_delta":
            self.stop = event.delta.stop_reason or self.stop
            self.output_tokens = getattr(event.usage, "output_tokens", None)
        elif kind == "message_stop":
            self.ended = True
        return ""

    def _delta(self, event: Any) -> str:
        delta = event.delta
        if delta.type == "text_delta":
            self.text.append(delta.text)
            return delta.text
        if delta.type == "input_json_delta":
            self.blocks[event.index].json.append(delta.partial_json)
        return ""

    def _close(self, index: int) -> None:
        block = self.blocks.get(index)
        if block is not None and block.kind == "tool_use":
            self.calls.append(_call(block.id, block.name, "".join(block.json) or "{}", self.who))

    def response(self) -> ModelResponse:
        who = self.who
        if not self.ended:
            raise MalformedResponseError(
                f"{who.provider}:{who.model} ended its stream before message_stop (cut mid-way)",
                provider=who.provider,
                model=who.model,
            )
        return ModelResponse(
            Message.assistant("".join(self.text), tool_calls=self.calls),
            _usage(self.start_usage, who.profile, self.output_tokens),
            model_name=self.model or who.model,
            finish_reason=STOP_REASONS.get(self.stop or "", self.stop),
            provider=who.provider,
        )
