"""Normalized messages: what every model, session and hook speaks.

Provider formats (OpenAI, llama.cpp, Anthropic…) are translated to and from these types
inside `keel.models`; nothing else in Keel knows a wire format. Runtime objects are frozen
dataclasses (cheap to build on the hot path); pydantic only validates them at the edges,
when messages are loaded from storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

__all__ = [
    "Message",
    "ModelResponse",
    "Part",
    "Role",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "Usage",
    "message_to_json",
    "messages_from_json",
]

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """The model asks to call `tool_name` with `arguments` (already parsed JSON)."""

    tool_name: str
    arguments: dict[str, Any]
    call_id: str
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """What a tool call returned, as the text the model will read."""

    call_id: str
    tool_name: str
    content: str
    is_error: bool = False
    kind: Literal["tool_result"] = "tool_result"


Part = Annotated[TextPart | ToolCallPart | ToolResultPart, Field(discriminator="kind")]
"""A message part; `kind` tells them apart (and lets pydantic pick the type in one step)."""


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...]
    agent: str | None = None
    """The agent that wrote it (assistant messages of a run); None for everything else and
    for messages stored before Keel recorded it."""

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", (TextPart(text),))

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", (TextPart(text),))

    @classmethod
    def assistant(cls, text: str = "", *, tool_calls: Sequence[ToolCallPart] = ()) -> Message:
        parts: tuple[Part, ...] = (TextPart(text),) if text else ()
        return cls("assistant", parts + tuple(tool_calls))

    @classmethod
    def tool_results(cls, results: Sequence[ToolResultPart]) -> Message:
        return cls("tool", tuple(results))

    @property
    def text(self) -> str:
        """All text parts joined; empty when the message holds only tool parts."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]


@dataclass(slots=True)
class Usage:
    """Token and request counts; add two together with `+`."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    cached_input_tokens: int = 0
    """Of `input_tokens`, those read from the provider's prompt cache (priced lower)."""
    cost: float = 0.0
    """USD, from the model's profile prices (`keel.models.profiles`); 0 when unpriced."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.requests + other.requests,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.tool_calls + other.tool_calls,
            self.cached_input_tokens + other.cached_input_tokens,
            self.cost + other.cost,
        )


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """One answer from a model: an assistant message plus what it cost."""

    message: Message
    usage: Usage = field(default_factory=lambda: Usage(requests=1))
    model_name: str = ""
    finish_reason: str | None = None
    provider: str = ""
    """The provider that really answered (a fallback chain names the model it fell to)."""


@cache
def _messages_adapter() -> TypeAdapter[list[Message]]:
    # Built on first use, not at import: `import keel` stays fast.
    return TypeAdapter(list[Message])


@cache
def _message_adapter() -> TypeAdapter[Message]:
    return TypeAdapter(Message)


def message_to_json(message: Message) -> str:
    return _message_adapter().dump_json(message).decode()


def messages_from_json(data: str | bytes) -> list[Message]:
    """Parse and validate stored messages; raises pydantic.ValidationError if corrupt."""
    return _messages_adapter().validate_json(data)
