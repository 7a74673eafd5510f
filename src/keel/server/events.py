"""Run events and results as JSON: what SSE clients and JSON responses receive.

Events carry live objects (the run context with `deps`, the result); only what a client
can use leaves the process: ids, text, tool calls and results, pending actions, usage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from pydantic_core import to_jsonable_python

from keel.events import (
    ModelResponseReceived,
    RunEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    RunSuspended,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from keel.messages import Message, Usage
from keel.result import RunResult
from keel.runs.pending import PendingAction
from keel.runs.state import RunState

__all__ = ["event_json", "message_json", "result_json", "sse", "state_json", "usage_json"]


def usage_json(usage: Usage) -> dict[str, int]:
    return {
        "requests": usage.requests,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "tool_calls": usage.tool_calls,
    }


def pending_json(pending: PendingAction) -> dict[str, Any]:
    return asdict(pending)


def message_json(message: Message) -> dict[str, Any]:
    return to_jsonable_python(message)


def result_json(result: RunResult[Any]) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "agent": result.agent_name,
        "session_id": result.session_id,
        "status": result.status,
        "output": to_jsonable_python(result.output, fallback=str),
        "pending": [pending_json(p) for p in result.pending],
        "usage": usage_json(result.usage),
        "steps": result.steps,
    }


def state_json(state: RunState) -> dict[str, Any]:
    return {
        "run_id": state.run_id,
        "agent": state.agent_name,
        "session_id": state.session_id,
        "status": state.status,
        "step": state.step,
        "output": to_jsonable_python(state.output, fallback=str),
        "error": state.error,
        "pending": [pending_json(p) for p in state.pending],
        "undecided": [p.id for p in state.undecided],
        "usage": usage_json(state.usage),
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }


def event_json(event: RunEvent) -> tuple[str, dict[str, Any]]:
    """The SSE event name and its data."""
    name = _snake(type(event).__name__)
    data = _data(event)
    return name, data if data is not None else {"run_id": event.context.run_id}


def _data(event: RunEvent) -> dict[str, Any] | None:
    encode = _ENCODERS.get(type(event))
    return encode(event) if encode is not None else None


_ENCODERS: dict[type[Any], Callable[[Any], dict[str, Any]]] = {
    RunStarted: lambda e: {"run_id": e.context.run_id, "session_id": e.context.session_id},
    TextDelta: lambda e: {"text": e.text},
    ModelResponseReceived: lambda e: {"message": message_json(e.response.message)},
    ToolCallStarted: lambda e: to_jsonable_python(e.call),
    ToolCallFinished: lambda e: to_jsonable_python(e.result),
    RunSuspended: lambda e: {"pending": [pending_json(p) for p in e.pending]},
    RunFinished: lambda e: result_json(e.result),
    RunFailed: lambda e: {"error": str(e.error) or type(e.error).__name__},
}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def sse(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
