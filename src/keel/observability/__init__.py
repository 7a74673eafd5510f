"""Observability: OpenTelemetry spans for runs, model calls and tool calls."""

from keel.observability.tracing import Tracing

__all__ = ["Tracing"]
