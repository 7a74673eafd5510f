"""From Keel's span records to OpenTelemetry SDK spans, and exporter set-up.

`OTelSpanSink` (a telemetry sink) builds `ReadableSpan`s from `SpanRecord`s on the
telemetry thread and gives them to an exporter of your choice, or to the span processors
of the globally configured `TracerProvider` (its batch processor and exporters then
work as usual). `configure_tracing` sets up that provider with an OTLP (HTTP or gRPC)
or console exporter; each exporter comes from an extra (`otlp`), named in the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from keel.exceptions import ConfigurationError, MissingExtraError
from keel.observability.records import RunTrace, SpanRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["ExporterName", "OTelSpanSink", "configure_tracing", "to_readable_spans"]

ExporterName = Literal["otlp-http", "otlp-grpc", "console"]
_KINDS = {"INTERNAL": SpanKind.INTERNAL, "CLIENT": SpanKind.CLIENT}
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class OTelSpanSink:
    """Exports runs' spans: to `exporter`, or else to the global SDK provider's processors."""

    def __init__(self, exporter: SpanExporter | None = None) -> None:
        self.exporter = exporter

    def write(self, traces: Sequence[RunTrace]) -> None:
        if self.exporter is not None:
            from opentelemetry.sdk.resources import Resource

            self.exporter.export(to_readable_spans(traces, Resource.create({})))
            return
        from opentelemetry.sdk.trace import TracerProvider

        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):  # no SDK configured: nobody to export to
            return
        processor = provider._active_span_processor  # pyright: ignore[reportPrivateUsage]
        for span in to_readable_spans(traces, provider.resource):
            processor.on_end(span)


def to_readable_spans(traces: Sequence[RunTrace], resource: Resource) -> list[ReadableSpan]:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    scope = InstrumentationScope("keel")
    spans: list[ReadableSpan] = []
    for run in traces:
        trace_id = run.summary.trace_id
        for record in run.spans:
            spans.append(
                ReadableSpan(
                    record.name,
                    context=SpanContext(trace_id, record.span_id, False, _SAMPLED),
                    parent=_parent(trace_id, record),
                    resource=resource,
                    attributes=record.attributes,
                    events=_events(record),
                    links=_links(record),
                    kind=_KINDS[record.kind],
                    status=_status(record),
                    start_time=record.start_ns,
                    end_time=record.end_ns,
                    instrumentation_scope=scope,
                )
            )
    return spans


def _parent(trace_id: int, record: SpanRecord) -> SpanContext | None:
    if record.parent_id is None:
        return None
    return SpanContext(trace_id, record.parent_id, False, _SAMPLED)


def _links(record: SpanRecord) -> list[Link]:
    return [Link(SpanContext(t, s, False, _SAMPLED)) for t, s in record.links]


def _status(record: SpanRecord) -> Status:
    if record.error is None:
        return Status(StatusCode.UNSET)
    return Status(StatusCode.ERROR, record.error)


def _events(record: SpanRecord) -> list[Any]:
    from opentelemetry.sdk.trace import Event

    return [Event(e.name, e.attributes, e.at_ns) for e in record.events]


def span_exporter(name: ExporterName, endpoint: str | None = None) -> SpanExporter:
    """The named exporter; ConfigurationError naming the extra when it is not installed."""
    try:
        return _build_exporter(name, endpoint)
    except ImportError as exc:
        raise MissingExtraError(f"the {name!r} span exporter", "otlp") from exc


def _build_exporter(name: str, endpoint: str | None) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp-http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint)
    if name == "otlp-grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(endpoint=endpoint)
    raise ConfigurationError(
        f"unknown exporter {name!r}: use 'otlp-http', 'otlp-grpc' or 'console'"
    )


def configure_tracing(
    exporter: ExporterName | SpanExporter = "otlp-http",
    *,
    endpoint: str | None = None,
    service_name: str = "keel",
) -> TracerProvider:
    """Install a global `TracerProvider` exporting in batches through `exporter`.

    Every runner then traces its runs (the default `Tracing` layer delivers to it).
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    chosen = span_exporter(exporter, endpoint) if isinstance(exporter, str) else exporter
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(chosen))
    trace.set_tracer_provider(provider)
    return provider
