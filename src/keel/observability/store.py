"""The trace store: Keel's own searchable record of runs and their spans.

`TraceStore` is the protocol (the server's Postgres store implements it too);
`SQLiteTraceStore` keeps the record in the app's SQLite database (migration
`0011_traces`). It is a telemetry sink: the telemetry thread writes whole batches in one
transaction, so a run never waits for it. `retention_days` prunes older records as
batches arrive (at most once an hour).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic_core import to_json

from keel.exceptions import KeelError
from keel.observability.query import TraceQuery
from keel.observability.records import RunSummary, RunTrace, SpanEvent, SpanRecord
from keel.storage.sqlite import SQLiteDatabase

__all__ = ["SQLiteTraceStore", "TraceNotFoundError", "TraceStore"]

_RUN_COLUMNS = (
    "trace_id, run_id, tenant_id, user_id, session_id, agent_name, parent_run_id, model, "
    "provider, status, error_type, error, started_at, latency_ms, steps, input_tokens, "
    "output_tokens, cost_usd, tools, tool_errors, guardrail_trips, resumed"
)
_SELECTED = ", ".join(f"r.{c.strip()}" for c in _RUN_COLUMNS.split(","))
_PRUNE_EVERY_S = 3600.0


class TraceNotFoundError(KeelError, LookupError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no trace for run or trace id {key!r}")
        self.key = key


@runtime_checkable
class TraceStore(Protocol):
    def write(self, traces: Sequence[RunTrace]) -> None: ...

    def search(self, query: TraceQuery) -> list[RunSummary]: ...

    def get(self, key: str) -> list[RunTrace]:
        """Every segment of a run (by run id or trace id), oldest first."""
        ...

    def prune(self, before: float) -> int: ...


class SQLiteTraceStore:
    """Traces in SQLite: a path, or the `SQLiteDatabase` the app's other stores use."""

    def __init__(
        self, database: str | Path | SQLiteDatabase, *, retention_days: float | None = None
    ) -> None:
        self.db = database if isinstance(database, SQLiteDatabase) else SQLiteDatabase(database)
        self.retention_days = retention_days
        self._pruned_at = 0.0

    def write(self, traces: Sequence[RunTrace]) -> None:
        with self.db.transaction() as conn:
            for run in traces:
                row = conn.execute(
                    f"INSERT INTO trace_runs ({_RUN_COLUMNS}, spans) VALUES ({_marks(23)})",
                    (*_run_row(run.summary), _spans_json(run.spans)),
                ).lastrowid
                started = run.summary.started_ns / 1e9
                conn.executemany(
                    "INSERT INTO trace_run_tools (run_row, tool, started_at) VALUES (?, ?, ?)",
                    [(row, tool, started) for tool in sorted(set(run.summary.tools))],
                )
        self._maybe_prune()

    def search(self, query: TraceQuery) -> list[RunSummary]:
        where, params = _where(query)
        if query.tool is None:
            with self.db.reading() as conn:
                hint = _range_index(conn, query)
            # Newest ids first, then their rows: with a (value, started_at) range index
            # the sort reads the index alone, and only `limit` rows are fetched.
            ids = f"SELECT r.id FROM trace_runs r{hint}{where} ORDER BY r.started_at DESC"
            sql = (
                f"SELECT {_SELECTED} FROM trace_runs r WHERE r.id IN ({ids} LIMIT ?) "
                "ORDER BY r.started_at DESC"
            )
        else:  # driven by the tool's own index, newest first
            where = where.replace(" WHERE ", " AND ", 1)
            sql = (
                f"SELECT {_SELECTED} FROM trace_run_tools t CROSS JOIN trace_runs r "
                f"ON r.id = t.run_row WHERE t.tool = ?{where} ORDER BY t.started_at DESC"
            )
            params = [query.tool, *params]
            sql += " LIMIT ?"
        with self.db.reading() as conn:
            rows = conn.execute(sql, (*params, query.limit)).fetchall()
        return [_summary(r) for r in rows]

    def get(self, key: str) -> list[RunTrace]:
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT spans, {_RUN_COLUMNS} FROM trace_runs WHERE run_id = ? OR trace_id = ? "
                "ORDER BY started_at",
                (key, key),
            ).fetchall()
        found = [RunTrace(_summary(r[1:]), _spans(r[0])) for r in rows]
        if not found:
            raise TraceNotFoundError(key)
        return found

    def prune(self, before: float) -> int:
        """Delete runs (and their spans) started before `before` (Unix seconds)."""
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM trace_runs WHERE started_at < ?", (before,)).rowcount

    def count(self) -> int:
        with self.db.reading() as conn:
            return int(conn.execute("SELECT count(*) FROM trace_runs").fetchone()[0])

    def _maybe_prune(self) -> None:
        if self.retention_days is None:
            return
        now = time.time()
        if now - self._pruned_at >= _PRUNE_EVERY_S:
            self._pruned_at = now
            self.prune(now - self.retention_days * 86400)


_RANGES = (
    ("trace_runs_latency", "latency_ms", "min_latency_ms", "max_latency_ms"),
    ("trace_runs_cost", "cost_usd", "min_cost", "max_cost"),
)
_PROBE = 20_000


def _range_index(conn: sqlite3.Connection, query: TraceQuery) -> str:
    """`INDEXED BY` a latency or cost index when its range is narrow (< 20,000 runs).

    Without it SQLite walks runs newest first and tests each: fine when matches are
    common, a full scan when they are rare (a latency outlier, say). Counting
    at most 20,000 index entries (a few ms at worst) tells the two apart.
    """
    for index, column, low_name, high_name in _RANGES:
        low, high = getattr(query, low_name), getattr(query, high_name)
        if low is None and high is None:
            continue
        bounds = (-1.0 if low is None else low, float("inf") if high is None else high)
        (found,) = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM trace_runs INDEXED BY {index} "
            f"WHERE {column} BETWEEN ? AND ? LIMIT {_PROBE})",
            bounds,
        ).fetchone()
        if found < _PROBE:
            return f" INDEXED BY {index}"
    return ""


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _where(query: TraceQuery) -> tuple[str, list[Any]]:
    tests: list[tuple[str, Any]] = [
        ("r.user_id = ?", query.user),
        ("r.tenant_id = ?", query.tenant),
        ("r.session_id = ?", query.session),
        ("r.agent_name = ?", query.agent),
        ("r.status = ?", query.status),
        ("r.error_type = ?", query.error_type),
        ("r.started_at >= ?", query.since),
        ("r.started_at <= ?", query.until),
        ("r.cost_usd >= ?", query.min_cost),
        ("r.cost_usd <= ?", query.max_cost),
        ("r.latency_ms >= ?", query.min_latency_ms),
        ("r.latency_ms <= ?", query.max_latency_ms),
    ]
    used = [(sql, value) for sql, value in tests if value is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(sql for sql, _ in used), [v for _, v in used]


def _names(names: Sequence[str]) -> str:
    return "," + ",".join(sorted(set(names))) + "," if names else ""


def _run_row(s: RunSummary) -> tuple[Any, ...]:
    return (
        f"{s.trace_id:032x}",
        s.run_id,
        s.tenant_id,
        s.user_id,
        s.session_id,
        s.agent_name,
        s.parent_run_id,
        s.model,
        s.provider,
        s.status,
        s.error_type,
        s.error,
        s.started_ns / 1e9,
        s.latency_ms,
        s.steps,
        s.input_tokens,
        s.output_tokens,
        s.cost_usd,
        _names(s.tools),
        ",".join(s.tool_errors),
        ",".join(s.guardrail_trips),
        int(s.resumed),
    )


def _spans_json(spans: Sequence[SpanRecord]) -> str:
    """A run's spans as one JSON array (one encode per run, in Rust)."""
    return to_json(
        [
            [
                f"{s.span_id:016x}",
                None if s.parent_id is None else f"{s.parent_id:016x}",
                s.name,
                s.kind,
                s.start_ns,
                s.end_ns,
                s.attributes,
                s.error,
                [[e.name, e.at_ns, e.attributes] for e in s.events],
                [[f"{t:032x}", f"{i:016x}"] for t, i in s.links],
            ]
            for s in spans
        ],
        fallback=str,
    ).decode()


def _summary(r: Sequence[Any]) -> RunSummary:
    started_ns = round(r[12] * 1e9)
    return RunSummary(
        trace_id=int(r[0], 16),
        run_id=r[1],
        tenant_id=r[2],
        user_id=r[3],
        session_id=r[4],
        agent_name=r[5],
        parent_run_id=r[6],
        model=r[7],
        provider=r[8],
        status=r[9],
        error_type=r[10],
        error=r[11],
        started_ns=started_ns,
        ended_ns=started_ns + round(r[13] * 1e6),
        steps=r[14],
        input_tokens=r[15],
        output_tokens=r[16],
        cost_usd=r[17],
        tools=[t for t in r[18].split(",") if t],
        tool_errors=[t for t in r[19].split(",") if t],
        guardrail_trips=[t for t in r[20].split(",") if t],
        resumed=bool(r[21]),
    )


def _spans(data: str) -> list[SpanRecord]:
    return [_span(*fields) for fields in json.loads(data)]


def _span(  # noqa: PLR0917 (one stored span's fields, in order)
    span_id: str,
    parent: str | None,
    name: str,
    kind: Any,
    start: int,
    end: int,
    attributes: dict[str, Any],
    error: str | None,
    events: list[Any],
    links: Sequence[Sequence[str]] = (),  # absent from spans stored before links were
) -> SpanRecord:
    return SpanRecord(
        name=name,
        kind=kind,
        span_id=int(span_id, 16),
        parent_id=None if parent is None else int(parent, 16),
        start_ns=start,
        attributes=attributes,
        end_ns=end,
        error=error,
        events=[SpanEvent(n, at, a) for n, at, a in events],
        links=[(int(t, 16), int(i, 16)) for t, i in links],
    )
