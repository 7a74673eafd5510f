"""OpenTelemetry spans for runs, model calls and tool calls: `Tracing`, one object that
is both a `Middleware` and a `RunHook`.

Spans follow the GenAI semantic conventions (`invoke_agent {agent}`, `chat {model}` as
CLIENT, `execute_tool {tool}` as INTERNAL). The run span opens and closes with the run's
events (a hook). Model and tool spans wrap the calls themselves (middleware), so each is
*current* while its work runs: a span opened inside a tool, or a nested agent's run,
lands under it in the same trace. Only the OpenTelemetry API is used; the runner adds
this only once an SDK is configured, so without one tracing costs nothing.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from keel.events import RunEvent, RunFailed, RunFinished, RunResumed, RunStarted
from keel.messages import ModelResponse, ToolResultPart
from keel.middleware import Middleware, ModelCall, ModelHandler, ToolCall, ToolHandler

__all__ = ["Tracing"]


class Tracing(Middleware):
    """Pass to `Runner(middleware=[Tracing(tracer)])`; it observes the run's events too."""

    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer or trace.get_tracer("keel")
        self._runs: dict[str, Span] = {}

    async def on_event(self, event: RunEvent) -> None:
        match event:
            case RunStarted() | RunResumed():
                self._start_run(event)
            case RunFinished():
                self._end_run(event.context.run_id, None)
            case RunFailed():
                self._end_run(event.context.run_id, event.error)
            case _:
                pass

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        model = call.model
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": model.provider,
            "gen_ai.request.model": model.name,
        }
        with self._child(call, f"chat {model.name}", SpanKind.CLIENT, attributes) as span:
            response = await call_next(call)
            if span.is_recording():
                span.set_attributes(_response_attributes(response))
            return response

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        name = call.call.tool_name
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call.call.call_id,
        }
        with self._child(call, f"execute_tool {name}", SpanKind.INTERNAL, attributes) as span:
            result = await call_next(call)
            if result.is_error:
                span.set_attribute("error.type", "tool_error")
                span.set_status(Status(StatusCode.ERROR, result.content[:200]))
            return result

    def _child(
        self, call: ModelCall | ToolCall, name: str, kind: SpanKind, attributes: dict[str, Any]
    ) -> Any:
        parent = self._runs.get(call.context.run_id)
        context = trace.set_span_in_context(parent) if parent is not None else None
        return self._tracer.start_as_current_span(
            name, context=context, kind=kind, attributes=attributes
        )

    def _start_run(self, event: RunStarted | RunResumed) -> None:
        ctx = event.context
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": ctx.agent_name,
            "keel.run.id": ctx.run_id,
        }
        if isinstance(event, RunStarted):
            attributes["gen_ai.provider.name"] = event.provider
            attributes["gen_ai.request.model"] = event.model_name
        else:
            attributes["keel.run.resumed"] = True
        if ctx.session_id is not None:
            attributes["gen_ai.conversation.id"] = ctx.session_id
        self._runs[ctx.run_id] = self._tracer.start_span(
            f"invoke_agent {ctx.agent_name}", kind=SpanKind.INTERNAL, attributes=attributes
        )

    def _end_run(self, run_id: str, error: BaseException | None) -> None:
        span = self._runs.pop(run_id, None)
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
        span.end()


def _response_attributes(response: ModelResponse) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.response.model": response.model_name,
        "gen_ai.usage.input_tokens": response.usage.input_tokens,
        "gen_ai.usage.output_tokens": response.usage.output_tokens,
    }
    if response.finish_reason is not None:  # reported, never guessed
        attributes["gen_ai.response.finish_reasons"] = [response.finish_reason]
    return attributes
