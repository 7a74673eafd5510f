"""`TraceQuery`: what a trace search asks for, and how text filters become one.

Filters arrive as text from the CLI and from the server's query string, so
`TraceQuery.parse` is the one place they are checked: an unknown filter or a bad value
raises `TraceFilterError` naming it, before any store is asked.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime

from keel.exceptions import KeelError

__all__ = ["STATUSES", "TraceFilterError", "TraceQuery"]

STATUSES = ("completed", "suspended", "needs_attention", "failed")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class TraceFilterError(KeelError, ValueError):
    """A trace search filter that is unknown or has a bad value; `filter` names it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"trace filter {name!r}: {problem}")
        self.filter = name


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceQuery:
    user: str | None = None
    tenant: str | None = None
    session: str | None = None
    agent: str | None = None
    tool: str | None = None
    status: str | None = None
    error_type: str | None = None
    since: float | None = None
    """Unix seconds."""
    until: float | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    min_latency_ms: float | None = None
    max_latency_ms: float | None = None
    limit: int = 50

    @classmethod
    def parse(cls, filters: Mapping[str, str | None], *, now: float | None = None) -> TraceQuery:
        """From text values (None or "" = not given); TraceFilterError naming a bad one."""
        known = {f.name for f in fields(cls)}
        values: dict[str, object] = {}
        for name, text in filters.items():
            if name not in known:
                raise TraceFilterError(name, f"unknown filter; use one of {sorted(known)}")
            if text is None or text == "":
                continue
            values[name] = _value(name, text, time.time() if now is None else now)
        return cls(**values)  # pyright: ignore[reportArgumentType]


def _value(name: str, text: str, now: float) -> object:
    if name == "status":
        if text not in STATUSES:
            raise TraceFilterError(name, f"{text!r} is not one of {', '.join(STATUSES)}")
        return text
    if name in ("since", "until"):
        return _when(name, text, now)
    if name in ("min_cost", "max_cost"):
        return _number(name, text)
    if name in ("min_latency_ms", "max_latency_ms"):
        return _latency(name, text)
    if name == "limit":
        return _limit(text)
    return text


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceFilterError(name, f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise TraceFilterError(name, f"{text!r} must be zero or more")
    return value


def _latency(name: str, text: str) -> float:
    match = _DURATION.match(text)
    if match:
        return float(match[1]) * _SECONDS[match[2]] * 1000
    return _number(name, text)  # plain milliseconds


def _when(name: str, text: str, now: float) -> float:
    """An ISO time (`2026-11-22T10:00`, UTC unless an offset is given) or an age (`2h`)."""
    match = _DURATION.match(text)
    if match:
        return now - float(match[1]) * _SECONDS[match[2]]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TraceFilterError(
            name, f"{text!r} is neither an ISO time (2026-11-22T10:00) nor an age (30m, 2h, 7d)"
        ) from None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise TraceFilterError("limit", f"{text!r} is not a whole number") from None
    if not 1 <= value <= 10_000:
        raise TraceFilterError("limit", f"{value} is outside 1..10000")
    return value
