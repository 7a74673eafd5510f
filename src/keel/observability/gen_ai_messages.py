"""Messages as span attributes in the OpenTelemetry GenAI convention's shape (role +
parts), redacted: what `Tracing` records as a model call's input and output."""

from __future__ import annotations

import json
from typing import Any

from keel.messages import Message
from keel.observability.redact import redact

__all__ = ["message_json", "messages_json"]


def messages_json(messages: Any) -> str:
    """Messages in the GenAI convention's shape (role + parts), redacted."""
    items = [message_json(m) for m in messages]
    return redact(json.dumps(items, default=str))


def message_json(message: Message) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if part.kind == "text":
            parts.append({"type": "text", "content": part.text})
        elif part.kind == "tool_call":
            parts.append(
                {
                    "type": "tool_call",
                    "id": part.call_id,
                    "name": part.tool_name,
                    "arguments": part.arguments,
                }
            )
        else:
            parts.append(
                {"type": "tool_call_response", "id": part.call_id, "response": part.content}
            )
    return {"role": message.role, "parts": parts}
