"""A runner whose tracing exports to an in-memory exporter, for span assertions."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from keel import Runner
from keel.observability import OTelSpanSink, Telemetry, Tracing


class Traced:
    """A runner whose `Tracing` exports to an in-memory exporter."""

    def __init__(self, *, capture_content: bool = False, **runner: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.telemetry = Telemetry([OTelSpanSink(self.exporter)])
        tracing = Tracing(self.telemetry, capture_content=capture_content)
        self.runner = Runner(middleware=[tracing], **runner)

    def spans(self) -> tuple[ReadableSpan, ...]:
        assert self.telemetry.flush()
        return self.exporter.get_finished_spans()
