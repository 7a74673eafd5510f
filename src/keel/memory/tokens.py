"""A token estimate for budgets, until model profiles carry each model's own tokenizer.

About four characters a token for English text (the ratio cl100k and Qwen's tokenizers
give on prose), plus a few tokens of framing per message. Budgets built on it should keep
some headroom; a model profile's exact count replaces it by passing `count_tokens`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from keel.messages import Message, TextPart, ToolCallPart, ToolResultPart

__all__ = ["TokenCounter", "estimate_tokens", "message_text", "total_tokens"]

TokenCounter = Callable[[Message], int]

_PER_MESSAGE = 4


def message_text(message: Message) -> str:
    """Everything a model reads of a message: text, tool calls, tool results."""
    pieces: list[str] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            pieces.append(part.text)
        elif isinstance(part, ToolCallPart):
            pieces.append(f"{part.tool_name}({json.dumps(part.arguments, ensure_ascii=False)})")
        elif isinstance(part, ToolResultPart):  # pyright: ignore[reportUnnecessaryIsInstance]
            pieces.append(part.content)
    return "\n".join(pieces)


def estimate_tokens(message: Message) -> int:
    return _PER_MESSAGE + (len(message_text(message)) + 3) // 4


def total_tokens(messages: Iterable[Message], count: TokenCounter = estimate_tokens) -> int:
    return sum(count(m) for m in messages)
