"""What Keel records about a run while it happens: plain slotted objects, cheap to build.

A `SpanRecord` is one span (run, model call, tool call) as Keel measured it; a
`RunTrace` is a finished run with its spans and its summary. They are made on the hot
path and handed, whole, to the telemetry worker (`keel.observability.pipeline`), which
turns them into OpenTelemetry spans, trace-store rows and metric points off the event
loop. Ids are OpenTelemetry's: a 128-bit trace id and 64-bit span ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["RunSummary", "RunTrace", "SpanEvent", "SpanKindName", "SpanRecord"]

SpanKindName = Literal["INTERNAL", "CLIENT"]


@dataclass(slots=True)
class SpanEvent:
    name: str
    at_ns: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class SpanRecord:
    name: str
    kind: SpanKindName
    span_id: int
    parent_id: int | None
    """The parent span's id (in this trace); None for a trace's root."""
    start_ns: int
    attributes: dict[str, Any]
    end_ns: int = 0
    error: str | None = None
    """The status description when the span failed."""
    events: list[SpanEvent] = field(default_factory=list[SpanEvent])
    links: list[tuple[int, int]] = field(default_factory=list[tuple[int, int]])
    """(trace id, span id) of spans this one follows from: a resumed run's root links
    to the root of the segment that suspended."""

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclass(slots=True, kw_only=True)
class RunSummary:
    """The searchable facts of one run (one segment of it, for a resumed run)."""

    run_id: str
    trace_id: int
    agent_name: str
    tenant_id: str
    user_id: str | None
    session_id: str | None
    parent_run_id: str | None
    model: str
    provider: str
    status: str = "running"
    error_type: str | None = None
    error: str | None = None
    started_ns: int = 0
    ended_ns: int = 0
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    tools: list[str] = field(default_factory=list[str])
    tool_errors: list[str] = field(default_factory=list[str])
    guardrail_trips: list[str] = field(default_factory=list[str])
    """The guardrails that modified or blocked text (stored; one entry per trip)."""
    guardrail_events: list[tuple[str, str, str]] = field(default_factory=list[tuple[str, str, str]])
    """(guardrail, stage, action) per `GuardrailTripped` while the run ran."""
    decisions: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    """(middleware, decision) per call a middleware denied, suspended or answered itself."""
    pending: int = 0
    """Actions left waiting for a person when the run stopped."""
    approvals_decided: int = 0
    resumed: bool = False

    @property
    def latency_ms(self) -> float:
        return (self.ended_ns - self.started_ns) / 1e6


@dataclass(slots=True)
class RunTrace:
    """A finished run (or segment): its summary and every span it recorded."""

    summary: RunSummary
    spans: list[SpanRecord]
    model_calls: list[tuple[str, str, float, int, int]] = field(
        default_factory=list[tuple[str, str, float, int, int]]
    )
    """(provider, model, duration s, input tokens, output tokens) per model call."""
    finished: bool = False

    def finish(self) -> None:
        """Derive the totals and the root span's attributes (off the hot path, once)."""
        if self.finished:
            return
        self.finished = True
        s = self.summary
        s.steps = sum(1 for span in self.spans if span.kind == "CLIENT")
        s.input_tokens = sum(call[3] for call in self.model_calls)
        s.output_tokens = sum(call[4] for call in self.model_calls)
        if s.guardrail_events:
            s.guardrail_trips = [guardrail for guardrail, _, _ in s.guardrail_events]
        if self.spans:
            self.spans[0].attributes.update(_run_attributes(s))


def _run_attributes(s: RunSummary) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": s.agent_name,
        "keel.run.id": s.run_id,
        "keel.tenant.id": s.tenant_id,
        "gen_ai.usage.input_tokens": s.input_tokens,
        "gen_ai.usage.output_tokens": s.output_tokens,
    }
    if s.model:
        attributes["gen_ai.provider.name"] = s.provider
        attributes["gen_ai.request.model"] = s.model
    if s.resumed:
        attributes["keel.run.resumed"] = True
    if s.session_id is not None:
        attributes["gen_ai.conversation.id"] = s.session_id
    if s.parent_run_id is not None:
        attributes["keel.run.parent_id"] = s.parent_run_id
    if s.error_type is not None:
        attributes["error.type"] = s.error_type
    return attributes
