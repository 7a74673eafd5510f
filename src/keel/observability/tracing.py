"""Spans for runs, model calls and tool calls: `Tracing`, one object that is both a
`Middleware` and a `RunHook`.

Spans follow the OpenTelemetry GenAI semantic conventions (`invoke_agent {agent}`,
`chat {model}` as CLIENT, `execute_tool {tool}` as INTERNAL, `gen_ai.*` attributes). The
run span opens and closes with the run's events (a hook); model and tool spans wrap the
calls themselves (middleware) and are *current* while their work runs, so a span an
application opens inside a tool, or a nested agent's run, lands under them in the trace.

Why not the OpenTelemetry SDK's own spans on the hot path: a Python SDK span costs
~40 µs to start and end, which would triple a turn. Keel records each span as a small
`SpanRecord`, makes its id current through the OpenTelemetry *API* (a non-recording
span carrying the real ids, ~2 µs), and hands the finished run to `Telemetry`, whose
worker thread turns the records into SDK spans for the exporters, rows for the trace
store and metric points — off the event loop, in batches, dropping (and counting) when
its bounded queue is full. Content (prompts, completions, tool arguments and results)
is captured only with `capture_content=True`, and always through `redact`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from contextlib import contextmanager
from contextvars import Token
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from keel.events import (
    GuardrailTripped,
    RunEvent,
    RunFailed,
    RunFinished,
    RunResumed,
    RunStarted,
    RunSuspended,
)
from keel.messages import ModelResponse, ToolResultPart
from keel.middleware import Middleware, ModelCall, ModelHandler, ToolCall, ToolHandler
from keel.observability.gen_ai_messages import messages_json
from keel.observability.pipeline import Telemetry, default_telemetry
from keel.observability.records import (
    RunSummary,
    RunTrace,
    SpanEvent,
    SpanKindName,
    SpanRecord,
)
from keel.observability.redact import redact

__all__ = ["Tracing", "span"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_RUN_KEY = otel_context.create_key("keel.run")
_ids = random.Random()  # as OpenTelemetry's RandomIdGenerator: fast, not secret


class _Run:
    """The spans of one run while it runs."""

    __slots__ = ("model_calls", "root", "spans", "summary")

    def __init__(self, summary: RunSummary, root: SpanRecord) -> None:
        self.summary = summary
        self.root = root
        self.spans = [root]
        self.model_calls: list[tuple[str, str, float, int, int]] = []

    def child(
        self, name: str, kind: Any, attributes: dict[str, Any], parent: int | None = None
    ) -> SpanRecord:
        parent_id = self.root.span_id if parent is None else parent
        span = SpanRecord(name, kind, _ids.getrandbits(64), parent_id, time.time_ns(), attributes)
        self.spans.append(span)
        return span


class Tracing(Middleware):
    """Pass to `Runner(middleware=[Tracing()])`; it observes the run's events too.

    `telemetry` receives every finished run (default: the process's, which exports to
    the globally configured OpenTelemetry SDK). `capture_content` adds prompts,
    completions, tool arguments and results to spans, PII-redacted.
    """

    is_tracing = True
    """Marks the tracing layer: the runner adds its default one only when none is given."""
    observes_steps = False
    """Only lifecycle events are needed (steps are wrapped): the run makes no others."""

    def __init__(
        self, telemetry: Telemetry | None = None, *, capture_content: bool = False
    ) -> None:
        self.telemetry = telemetry if telemetry is not None else default_telemetry()
        self.capture_content = capture_content
        self._runs: dict[str, _Run] = {}

    async def on_event(self, event: RunEvent) -> None:
        if isinstance(event, RunStarted | RunResumed):
            self._start_run(event)
        elif isinstance(event, RunFinished):
            self._end_run(event.context.run_id, None, event.result.status)
        elif isinstance(event, RunFailed):
            self._end_run(event.context.run_id, event.error, "failed")
        elif isinstance(event, RunSuspended):
            self._suspended(event)
        elif isinstance(event, GuardrailTripped):
            self._tripped(event)

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        run = self._runs.get(call.context.run_id)
        if run is None:  # a run this layer did not see start: nothing to attach to
            return await call_next(call)
        model = call.model
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": model.provider,
            "gen_ai.request.model": model.name,
        }
        settings = call.request.settings
        if settings.temperature is not None:
            attributes["gen_ai.request.temperature"] = settings.temperature
        if settings.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = settings.max_tokens
        if self.capture_content:
            attributes["gen_ai.input.messages"] = messages_json(call.request.messages)
        span = run.child(f"chat {model.name}", "CLIENT", attributes)
        response = await _within(run, span, call, call_next)
        self._model_answered(run, span, response)
        return response

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        run = self._runs.get(call.context.run_id)
        if run is None:
            return await call_next(call)
        name = call.call.tool_name
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call.call.call_id,
            "gen_ai.tool.type": "function",
        }
        if self.capture_content:
            arguments = json.dumps(call.call.arguments, default=str)
            attributes["gen_ai.tool.call.arguments"] = redact(arguments)
        span = run.child(f"execute_tool {name}", "INTERNAL", attributes)
        result = await _within(run, span, call, call_next)
        self._tool_returned(run, span, result)
        return result

    def _model_answered(self, run: _Run, span: SpanRecord, response: ModelResponse) -> None:
        usage, attributes = response.usage, span.attributes
        attributes["gen_ai.response.model"] = response.model_name
        attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
        if response.finish_reason is not None:  # reported, never guessed
            attributes["gen_ai.response.finish_reasons"] = (response.finish_reason,)
        if self.capture_content:
            attributes["gen_ai.output.messages"] = messages_json((response.message,))
        seconds = (span.end_ns - span.start_ns) / 1e9
        provider, model = attributes["gen_ai.provider.name"], attributes["gen_ai.request.model"]
        run.model_calls.append((provider, model, seconds, usage.input_tokens, usage.output_tokens))
        run.summary.cost_usd += usage.cost  # priced by the model layer (keel.models.profiles)

    def _tool_returned(self, run: _Run, span: SpanRecord, result: ToolResultPart) -> None:
        name = result.tool_name
        run.summary.tools.append(name)
        if self.capture_content:
            span.attributes["gen_ai.tool.call.result"] = redact(result.content)
        if result.is_error:
            run.summary.tool_errors.append(name)
            span.attributes["error.type"] = "tool_error"
            span.error = "the tool returned an error"  # its text is content: not exported

    def _start_run(self, event: RunStarted | RunResumed) -> None:
        ctx = event.context
        resumed = isinstance(event, RunResumed)
        first = _first_segment(ctx.metadata) if resumed else None
        parent = trace.get_current_span().get_span_context()
        if parent.is_valid:
            trace_id = parent.trace_id
        else:  # a resumed run stays in its first segment's trace
            trace_id = first[0] if first is not None else _ids.getrandbits(128)
        model, provider = ("", "") if resumed else (event.model_name, event.provider)
        summary = RunSummary(
            run_id=ctx.run_id,
            trace_id=trace_id,
            agent_name=ctx.agent_name,
            tenant_id=ctx.principal.tenant_id,
            user_id=ctx.principal.user_id,
            session_id=ctx.session_id,
            parent_run_id=ctx.parent_run_id,
            model=model,
            provider=provider,
            started_ns=time.time_ns(),
            resumed=resumed,
            approvals_decided=len(event.decisions) if resumed else 0,
        )
        root = SpanRecord(
            f"invoke_agent {ctx.agent_name}",
            "INTERNAL",
            _ids.getrandbits(64),
            parent.span_id if parent.is_valid else None,
            summary.started_ns,
            {},  # filled by `RunTrace.finish` on the telemetry thread
        )
        if first is not None:
            root.links.append(first)
        elif not resumed:  # stored with the run: a resume, in any process, links back here
            ctx.metadata[TRACE_KEY] = f"{trace_id:032x}-{root.span_id:016x}"
        self._runs[ctx.run_id] = _Run(summary, root)

    def _tripped(self, event: GuardrailTripped) -> None:
        """An event on the run's span, and a trip for `keel.guardrail.trips` (rare: a
        guardrail modified or blocked text, at any stage)."""
        run = self._runs.get(event.context.run_id)
        if run is None:
            return
        run.summary.guardrail_events.append((event.guardrail, event.stage, event.action))
        attributes = {
            "keel.guardrail.name": event.guardrail,
            "keel.guardrail.stage": event.stage,
            "keel.guardrail.action": event.action,
            "keel.guardrail.score": event.score,
            "keel.guardrail.reason": redact(event.reason),
        }
        at_ns = int(event.at * 1e9)
        run.root.events.append(SpanEvent("keel.guardrail.tripped", at_ns, attributes))

    def _suspended(self, event: RunSuspended) -> None:
        run = self._runs.get(event.context.run_id)
        if run is not None:
            run.summary.pending = len(event.pending)

    def _end_run(self, run_id: str, error: BaseException | None, status: str) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        summary, root = run.summary, run.root
        summary.ended_ns = root.end_ns = time.time_ns()
        summary.status = status
        if error is not None:
            summary.error_type = type(error).__qualname__
            summary.error = root.error = _error_text(error)
            root.events.append(_exception_event(error))
        self.telemetry.submit(RunTrace(summary, run.spans, run.model_calls))


TRACE_KEY = "keel.trace"
"""Run metadata key: "TRACEID-SPANID" (hex, as in W3C traceparent) of the root span of a
run's first segment, stored with the run so its resumed segments join that trace."""


def _first_segment(metadata: Mapping[str, Any]) -> tuple[int, int] | None:
    """The first segment's span context, as stored with the run (None if never traced)."""
    stored = metadata.get(TRACE_KEY)
    if not isinstance(stored, str):
        return None
    trace_hex, _, span_hex = stored.partition("-")
    try:
        return int(trace_hex, 16), int(span_hex, 16)
    except ValueError:  # edited by hand: the segment is simply not linked
        return None


_GATEWAY_KINDS = frozenset({"retry", "fallback", "breaker", "tier"})


_C = TypeVar("_C", ModelCall, ToolCall)
_R = TypeVar("_R")


async def _within(
    run: _Run, span: SpanRecord, call: _C, call_next: Callable[[_C], Awaitable[_R]]
) -> _R:
    """Run `call_next(call)` with `span` current; on the way out end it, note a failure
    and the middleware decisions made inside (model and tool calls alike)."""
    token = _attach(run, span.span_id)
    try:
        return await call_next(call)
    except BaseException as error:
        _fail(span, error)
        raise
    finally:
        otel_context.detach(token)
        span.end_ns = time.time_ns()
        _decisions(run, span, call)


def _decisions(run: _Run, span: SpanRecord, call: ModelCall | ToolCall) -> None:
    """Decisions inner middleware took on the call: span events, and the decisions counted
    in `keel.middleware.decisions` (guardrails report their trips as events of their own)."""
    decisions = call.decisions
    if not decisions and call.reached:
        return  # the common case
    found = [(d.middleware, d.kind) for d in decisions] or [(call.by, "short_circuit")]
    for middleware, kind in found:
        if kind in _GATEWAY_KINDS:
            continue  # the model gateway puts these on the span itself, with their details
        if kind != "transform":
            run.summary.decisions.append((middleware, kind))
        detail = {"keel.middleware": middleware, "keel.decision": kind}
        span.events.append(SpanEvent("keel.middleware.decision", time.time_ns(), detail))


def _attach(run: _Run, span_id: int) -> Token[Context]:
    """Make the span current (for app code and nested runs) without an SDK span; the run
    rides along in the context, so `span()` can add children to it."""
    span = NonRecordingSpan(SpanContext(run.summary.trace_id, span_id, False, _SAMPLED))
    return otel_context.attach(
        otel_context.set_value(_RUN_KEY, run, trace.set_span_in_context(span))
    )


def current_span() -> SpanRecord | None:
    """The record of the span current in a traced run (a `chat` or `execute_tool` span, or
    one from `span()`), so code serving that call can add attributes and events to it;
    None outside a traced run."""
    run = otel_context.get_value(_RUN_KEY)
    if not isinstance(run, _Run):
        return None
    span_id = trace.get_current_span().get_span_context().span_id
    for record in reversed(run.spans):  # the current span is nearly always the newest
        if record.span_id == span_id:
            return record
    return None


@contextmanager
def span(
    name: str, *, attributes: Mapping[str, Any] | None = None, kind: SpanKindName = "INTERNAL"
) -> Generator[SpanRecord | None]:
    """A span for work inside a traced run's model or tool call (a gateway retry, a
    guardrail, a retrieval, a routing decision): recorded like Keel's own — exported,
    stored, current while its block runs. Yields the record (set attributes on it), or
    None outside a traced run, where an OpenTelemetry API span is made instead."""
    run = otel_context.get_value(_RUN_KEY)
    if not isinstance(run, _Run):
        with trace.get_tracer("keel").start_as_current_span(name, attributes=attributes):
            yield None
        return
    parent = trace.get_current_span().get_span_context().span_id
    record = run.child(name, kind, dict(attributes or {}), parent)
    token = _attach(run, record.span_id)
    try:
        yield record
    except BaseException as error:
        _fail(record, error)
        raise
    finally:
        otel_context.detach(token)
        record.end_ns = time.time_ns()


def _fail(span: SpanRecord, error: BaseException) -> None:
    span.attributes["error.type"] = type(error).__qualname__
    span.error = _error_text(error)
    span.events.append(_exception_event(error))


def _error_text(error: BaseException) -> str:
    return redact(str(error))[:200]


def _exception_event(error: BaseException) -> SpanEvent:
    attributes = {
        "exception.type": type(error).__qualname__,
        "exception.message": _error_text(error),
    }
    return SpanEvent("exception", time.time_ns(), attributes)
