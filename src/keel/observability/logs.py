"""Structured logs: one JSON object a line through the standard `logging` module, with
the current trace and span ids, and the message passed through the PII scrubber.

`configure_logging()` installs `JsonFormatter` on Keel's logger (or the root logger);
`RunLogger` is a telemetry sink that logs one line per finished run — run id, agent,
status, latency, tokens, cost, error type, its trace id — from the telemetry thread.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import IO, Any

from opentelemetry import trace

from keel.observability.records import RunTrace
from keel.observability.redact import redact

__all__ = ["JsonFormatter", "RunLogger", "configure_logging"]

_FIELDS = (
    "run_id",
    "agent",
    "status",
    "latency_ms",
    "steps",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "error_type",
    "tenant_id",
    "event",
)


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line; `trace_id`/`span_id` from the record or the context."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        entry.update(_ids(record))
        for name in _FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__qualname__
            entry["error"] = redact(str(record.exc_info[1]))
        return json.dumps(entry, default=str)


def _ids(record: logging.LogRecord) -> dict[str, str]:
    given = record.__dict__.get("trace_id")
    if given is not None:
        span = record.__dict__.get("span_id")
        return {"trace_id": str(given), **({"span_id": str(span)} if span else {})}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def configure_logging(
    level: int | str = logging.INFO, *, stream: IO[str] | None = None, root: bool = False
) -> logging.Handler:
    """Log JSON lines to `stream` (stderr) from Keel's logger, or every logger."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger() if root else logging.getLogger("keel")
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


class RunLogger:
    """A telemetry sink: one INFO line per finished run (WARNING when it failed)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("keel.runs")

    def write(self, traces: Sequence[RunTrace]) -> None:
        for run in traces:
            s = run.summary
            fields: dict[str, Any] = {
                "event": "run.finished",
                "run_id": s.run_id,
                "agent": s.agent_name,
                "tenant_id": s.tenant_id,
                "status": s.status,
                "latency_ms": round(s.latency_ms, 3),
                "steps": s.steps,
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "cost_usd": s.cost_usd,
                "error_type": s.error_type,
                "trace_id": f"{s.trace_id:032x}",
                "span_id": f"{run.spans[0].span_id:016x}" if run.spans else None,
            }
            level = logging.WARNING if s.status == "failed" else logging.INFO
            self.logger.log(level, "run %s %s", s.status, s.agent_name, extra=fields)


logging.getLogger("keel").addHandler(logging.NullHandler())  # a library logs nowhere unasked
