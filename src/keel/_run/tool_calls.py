"""The innermost step of a tool call, past every middleware: validate, run, render.

A bad argument, an unknown tool name or an exception inside the tool is reported back to
the model as an error result (cut to `max_tool_result_chars`), so it can correct itself;
the run itself never crashes on them. `started` is awaited after validation and right
before the tool runs: the durable loop records there that a side effect may happen. A tool
may raise `SuspendRun` itself — an agent run as a tool whose own run suspended — and the
call then waits on a person like one a middleware suspended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

from pydantic_core import to_json

from keel.exceptions import ToolArgumentsError
from keel.messages import ToolResultPart
from keel.middleware import SuspendRun, ToolCall

__all__ = ["invoke_tool", "truncate"]


async def invoke_tool(
    call: ToolCall,
    known: Collection[str],
    max_chars: int,
    started: Callable[[ToolCall], Awaitable[None]],
) -> ToolResultPart:
    tool = call.tool
    if tool is None:
        names = ", ".join(sorted(known)) or "none"
        message = f"unknown tool {call.call.tool_name!r}; available tools: {names}"
        return call.result(truncate(message, max_chars), is_error=True)
    try:
        arguments = tool.validate(call.arguments)
    except ToolArgumentsError as exc:
        return call.result(truncate(str(exc), max_chars), is_error=True)
    await started(call)
    try:
        value = await tool.invoke(arguments, call.context)
    except SuspendRun:
        raise  # the tool itself waits on a person (e.g. an agent it runs suspended)
    except Exception as exc:  # a tool's failure is information for the model
        message = f"tool {tool.name!r} failed: {type(exc).__name__}: {exc}"
        return call.result(truncate(message, max_chars), is_error=True)
    return call.result(truncate(_render(value), max_chars))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return to_json(value, fallback=str).decode()


def truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    note = f"… [cut: {len(text) - max_chars} more characters]"
    return text[: max_chars - len(note)] + note
