"""Execute the tool calls of one model response; every failure becomes a tool result.

A bad argument, an unknown tool name or an exception inside the tool is reported back to
the model as an error result (cut to `max_tool_result_chars`), so it can correct itself;
the run itself never crashes on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json

from keel.context import RunContext
from keel.messages import ToolCallPart, ToolResultPart
from keel.tools.tool import Tool

__all__ = ["execute_tool_calls"]


async def execute_tool_calls(
    calls: Sequence[ToolCallPart],
    tools: Mapping[str, Tool],
    ctx: RunContext,
    *,
    max_chars: int,
) -> list[ToolResultPart]:
    """Run the calls concurrently; results come back in the order of `calls`."""
    if len(calls) == 1:  # the common case, without the cost of a task per call
        return [await _execute(calls[0], tools, ctx, max_chars)]
    import asyncio  # already loaded by whatever runs the event loop; kept off `import keel`

    return list(await asyncio.gather(*(_execute(c, tools, ctx, max_chars) for c in calls)))


async def _execute(
    call: ToolCallPart, tools: Mapping[str, Tool], ctx: RunContext, max_chars: int
) -> ToolResultPart:
    tool = tools.get(call.tool_name)
    if tool is None:
        known = ", ".join(sorted(tools)) or "none"
        return _error(call, f"unknown tool {call.tool_name!r}; available tools: {known}", max_chars)
    try:
        arguments = tool.validate(call.arguments)
    except ValidationError as exc:
        return _error(call, f"invalid arguments for {tool.name!r}: {_summarize(exc)}", max_chars)
    try:
        value = await tool.invoke(arguments, ctx)
    except Exception as exc:  # a tool's failure is information for the model
        return _error(call, f"tool {tool.name!r} failed: {type(exc).__name__}: {exc}", max_chars)
    return ToolResultPart(call.call_id, call.tool_name, _truncate(_render(value), max_chars))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return to_json(value, fallback=str).decode()


def _summarize(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
    )


def _error(call: ToolCallPart, message: str, max_chars: int) -> ToolResultPart:
    return ToolResultPart(call.call_id, call.tool_name, _truncate(message, max_chars), True)


def _truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    note = f"… [cut: {len(text) - max_chars} more characters]"
    return text[: max_chars - len(note)] + note
