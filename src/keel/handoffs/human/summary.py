"""The transcript and written summary a person reads when a conversation reaches them.

The summary is written from the transcript by rules, not by the model: it must be right
when the model is the reason for the handoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from keel.handoffs.human.triggers import Trigger
from keel.messages import Message, ToolCallPart, ToolResultPart

__all__ = ["summarize", "transcript_of"]


def transcript_of(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Every message but the system prompt, as {"role", "agent", "text"} lines."""
    lines: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system":
            continue
        lines.append({"role": message.role, "agent": message.agent or "", "text": _text(message)})
    return lines


def _text(message: Message) -> str:
    pieces: list[str] = []
    for part in message.parts:
        if isinstance(part, ToolCallPart):
            pieces.append(f"[calls {part.tool_name} {part.arguments}]")
        elif isinstance(part, ToolResultPart):
            flag = "failed: " if part.is_error else ""
            pieces.append(f"[{part.tool_name} {flag}{part.content[:200]}]")
        else:
            pieces.append(part.text)
    return " ".join(pieces)


def summarize(
    transcript: Sequence[dict[str, str]], trigger: Trigger, agent: str, route: Any
) -> str:
    asked = [line["text"] for line in transcript if line["role"] == "user" and line["text"]]
    failed = sum(line["text"].count("failed: ") for line in transcript if line["role"] == "tool")
    parts = [f"Handed off ({trigger.kind}): {trigger.reason}; the agent was {agent!r}."]
    if asked:
        parts.append(f'The customer first wrote: "{asked[0][:160]}".')
    if len(asked) > 1:
        parts.append(f'Most recently: "{asked[-1][:160]}".')
    info = cast("dict[str, Any]", route) if isinstance(route, dict) else {}
    if info.get("route"):
        parts.append(f"Routed to {info['route']} ({info.get('decision')}).")
    if failed:
        parts.append(f"{failed} tool call(s) failed.")
    parts.append(f"{len(transcript)} messages in the transcript.")
    return " ".join(parts)
