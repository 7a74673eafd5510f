"""Offline token counting: what a request will cost before it is sent, and usage for
providers that report none (compatible servers often omit it in streams).

Counts come from `quicktok` (the `tokens` extra), which bundles the cl100k, o200k,
llama3 and qwen3 encodings and matches tiktoken exactly, with nothing downloaded at run
time. Without it a conservative estimate is used — one token per 3 bytes of UTF-8, more
than any of those encodings produce for prose or code — so a budget check errs on the
safe side. Anthropic publishes no tokenizer; its profiles count with cl100k, an
estimate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any, Protocol, cast

from keel.messages import Message, TextPart, ToolCallPart, ToolResultPart
from keel.models.base import ModelRequest

__all__ = ["count_message_tokens", "count_request_tokens", "count_tokens", "have_tokenizer"]

_PER_MESSAGE = 4
"""Role and separators each chat message adds (OpenAI's published accounting: 3-4)."""
_REPLY_PRIMING = 3


class _Encoding(Protocol):
    def encode(self, text: str) -> list[int]: ...


@cache
def _encoding(name: str) -> _Encoding | None:
    try:
        import quicktok  # pyright: ignore[reportMissingTypeStubs]
    except ImportError:
        return None
    get_encoding = cast(
        "Callable[[str], _Encoding]",
        quicktok.get_encoding,  # pyright: ignore[reportUnknownMemberType]
    )
    try:
        return get_encoding(name)
    except (RuntimeError, KeyError, ValueError):
        return get_encoding("o200k_base")


def have_tokenizer() -> bool:
    """Whether exact counts are available (quicktok installed)."""
    return _encoding("o200k_base") is not None


def count_tokens(text: str, encoding: str = "o200k_base") -> int:
    if not text:
        return 0
    found = _encoding(encoding)
    if found is None:
        return len(text.encode()) // 3 + 1
    return len(found.encode(text))


def count_message_tokens(message: Message, encoding: str = "o200k_base") -> int:
    total = _PER_MESSAGE
    for part in message.parts:
        if isinstance(part, TextPart):
            total += count_tokens(part.text, encoding)
        elif isinstance(part, ToolCallPart):
            total += count_tokens(part.tool_name, encoding)
            total += count_tokens(json.dumps(part.arguments), encoding)
        elif isinstance(part, ToolResultPart):  # pyright: ignore[reportUnnecessaryIsInstance]
            total += count_tokens(part.content, encoding)
    return total


def count_request_tokens(request: ModelRequest, encoding: str = "o200k_base") -> int:
    """Input tokens of `request`: messages, tool definitions and the output schema."""
    total = _REPLY_PRIMING
    for message in request.messages:
        total += count_message_tokens(message, encoding)
    extras: list[Any] = [
        {"name": t.name, "description": t.description, "parameters": t.parameters}
        for t in request.tools
    ]
    if request.output_schema is not None:
        extras.append(request.output_schema.schema)
    if extras:
        total += count_tokens(json.dumps(extras), encoding)
    return total
