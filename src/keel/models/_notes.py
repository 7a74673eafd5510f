"""Where the gateway and the tier router report what they did: run events and the span.

Decisions (a retry, a fallback, a breaker that opened) are noted on the model call being
served (`current_model_call`), so the run reports them as `MiddlewareDecision` events;
the same facts go on the current span (Keel's `chat` record when `Tracing` is on, else the
OpenTelemetry API span) as span events. Outside a run, and without tracing, both cost
nothing.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace

from keel.middleware.base import DecisionKind, NoteDecision, current_model_call
from keel.observability.records import SpanEvent
from keel.observability.tracing import current_span
from keel.resilience import BreakerTransition, on_breaker_transition

__all__ = ["GATEWAY", "note", "set_span_attributes"]

GATEWAY = "ModelGateway"


def note(kind: DecisionKind, detail: str, **attributes: Any) -> None:
    call = current_model_call.get()
    if call is not None:
        call.decisions.append(NoteDecision(GATEWAY, kind, detail))
    name, event_attributes = f"keel.gateway.{kind}", {"detail": detail, **attributes}
    record = current_span()
    if record is not None:
        record.events.append(SpanEvent(name, time.time_ns(), event_attributes))
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name, event_attributes)


def set_span_attributes(attributes: dict[str, Any]) -> None:
    record = current_span()
    if record is not None:
        record.attributes.update(attributes)
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(attributes)


def _on_transition(transition: BreakerTransition) -> None:
    note(
        "breaker",
        f"circuit breaker {transition.key} {transition.old} -> {transition.new}: "
        f"{transition.reason}",
        **{"keel.breaker.key": transition.key, "keel.breaker.state": transition.new},
    )


on_breaker_transition(_on_transition)
