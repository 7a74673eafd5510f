"""OpenTelemetry spans for runs, model calls and tool calls, as a `RunHook`.

Spans follow the GenAI semantic conventions (`invoke_agent {agent}`, `chat {model}`,
`execute_tool {tool}`). Only the OpenTelemetry API is used: without an SDK configured the
spans are no-ops that cost a few microseconds. One hook serves concurrent runs, so open
spans are keyed by run id and tool-call id.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from keel.events import (
    ModelRequestStarted,
    ModelResponseReceived,
    RunEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    ToolCallFinished,
    ToolCallStarted,
)

__all__ = ["TracingHook"]


class TracingHook:
    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer or trace.get_tracer("keel")
        self._runs: dict[str, Span] = {}
        self._chats: dict[str, Span] = {}
        self._tools: dict[tuple[str, str], Span] = {}

    async def on_event(self, event: RunEvent) -> None:
        match event:
            case RunStarted():
                self._start_run(event)
            case ModelRequestStarted():
                self._start_chat(event)
            case ModelResponseReceived():
                self._end_chat(event)
            case ToolCallStarted():
                self._start_tool(event)
            case ToolCallFinished():
                self._end_tool(event)
            case RunFinished():
                self._end_run(event.context.run_id, None)
            case RunFailed():
                self._end_run(event.context.run_id, event.error)
            case _:
                pass

    def _child(self, run_id: str, name: str, attributes: dict[str, Any]) -> Span:
        parent = self._runs.get(run_id)
        context = trace.set_span_in_context(parent) if parent is not None else None
        return self._tracer.start_span(
            name, context=context, kind=SpanKind.CLIENT, attributes=attributes
        )

    def _start_run(self, event: RunStarted) -> None:
        ctx = event.context
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": ctx.agent_name,
            "gen_ai.provider.name": event.provider,
            "gen_ai.request.model": event.model_name,
            "keel.run.id": ctx.run_id,
        }
        if ctx.session_id is not None:
            attributes["gen_ai.conversation.id"] = ctx.session_id
        self._runs[ctx.run_id] = self._tracer.start_span(
            f"invoke_agent {ctx.agent_name}", kind=SpanKind.INTERNAL, attributes=attributes
        )

    def _start_chat(self, event: ModelRequestStarted) -> None:
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": event.provider,
            "gen_ai.request.model": event.model_name,
        }
        span = self._child(event.context.run_id, f"chat {event.model_name}", attributes)
        self._chats[event.context.run_id] = span

    def _end_chat(self, event: ModelResponseReceived) -> None:
        span = self._chats.pop(event.context.run_id, None)
        if span is None:
            return
        response = event.response
        if span.is_recording():
            span.set_attributes(
                {
                    "gen_ai.response.model": response.model_name,
                    "gen_ai.usage.input_tokens": response.usage.input_tokens,
                    "gen_ai.usage.output_tokens": response.usage.output_tokens,
                    "gen_ai.response.finish_reasons": [response.finish_reason or "stop"],
                }
            )
        span.end()

    def _start_tool(self, event: ToolCallStarted) -> None:
        call = event.call
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.tool_name,
            "gen_ai.tool.call.id": call.call_id,
        }
        span = self._child(event.context.run_id, f"execute_tool {call.tool_name}", attributes)
        self._tools[(event.context.run_id, call.call_id)] = span

    def _end_tool(self, event: ToolCallFinished) -> None:
        span = self._tools.pop((event.context.run_id, event.call.call_id), None)
        if span is None:
            return
        if event.result.is_error:
            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR, event.result.content[:200]))
        span.end()

    def _end_run(self, run_id: str, error: BaseException | None) -> None:
        # A failed run may leave a chat or tool span open; close them with the error.
        leftovers = [self._chats.pop(run_id, None)]
        leftovers += [self._tools.pop(k) for k in [k for k in self._tools if k[0] == run_id]]
        leftovers.append(self._runs.pop(run_id, None))
        for span in leftovers:
            if span is None:
                continue
            if error is not None:
                span.record_exception(error)
                span.set_attribute("error.type", type(error).__qualname__)
                span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
            span.end()
