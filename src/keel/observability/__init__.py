"""Observability: OpenTelemetry GenAI spans, the trace store, metrics, logs, replay and
feedback. `Tracing` records; `Telemetry` delivers, off the hot path, to its sinks."""

from keel.observability.otel import OTelSpanSink, configure_tracing
from keel.observability.pipeline import Telemetry, TraceSink
from keel.observability.records import RunSummary, RunTrace, SpanRecord
from keel.observability.tracing import Tracing, current_span, span

__all__ = [
    "OTelSpanSink",
    "RunSummary",
    "RunTrace",
    "SpanRecord",
    "Telemetry",
    "TraceSink",
    "Tracing",
    "configure_tracing",
    "current_span",
    "span",
]
