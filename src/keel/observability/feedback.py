"""Feedback on runs: thumbs up or down, a CSAT score (1-5) and text, each linked to the
run's trace; aggregated per agent and day. Kept in the app's database (`feedback` table
of migration `0011_traces`)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from keel.exceptions import KeelError
from keel.principal import DEFAULT_TENANT
from keel.storage.sqlite import SQLiteDatabase

__all__ = ["Feedback", "FeedbackError", "FeedbackStore", "FeedbackSummary"]

Thumbs = Literal["up", "down"]
MAX_TEXT = 4000


class FeedbackError(KeelError, ValueError):
    """Feedback that cannot be stored: the message names the field."""


@dataclass(frozen=True, slots=True)
class Feedback:
    run_id: str
    agent_name: str | None
    trace_id: str | None
    thumbs: Thumbs | None
    csat: int | None
    text: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    agent_name: str
    day: str
    count: int
    thumbs_up: int
    thumbs_down: int
    csat_mean: float | None


class FeedbackStore:
    def __init__(self, database: str | Path | SQLiteDatabase) -> None:
        self.db = database if isinstance(database, SQLiteDatabase) else SQLiteDatabase(database)

    def add(
        self,
        run_id: str,
        *,
        thumbs: str | None = None,
        csat: int | None = None,
        text: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> Feedback:
        """Record feedback on a run; FeedbackError naming a bad field, nothing written."""
        _check(thumbs, csat, text)
        score = None if thumbs is None else (1 if thumbs == "up" else -1)
        with self.db.transaction() as conn:
            agent, trace_id = _run_of(conn, tenant_id, run_id)
            now = time.time()
            conn.execute(
                "INSERT INTO feedback (run_id, tenant_id, agent_name, trace_id, thumbs, csat, "
                "text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, tenant_id, agent, trace_id, score, csat, text, now),
            )
        return Feedback(run_id, agent, trace_id, thumbs, csat, text, now)  # pyright: ignore[reportArgumentType]

    def list(
        self, *, run_id: str | None = None, tenant_id: str = DEFAULT_TENANT, limit: int = 50
    ) -> list[Feedback]:
        sql = (
            "SELECT run_id, agent_name, trace_id, thumbs, csat, text, created_at FROM feedback "
            "WHERE tenant_id = ?"
        )
        params: list[object] = [tenant_id]
        if run_id is not None:
            sql, params = sql + " AND run_id = ?", [*params, run_id]
        with self.db.reading() as conn:
            rows = conn.execute(sql + " ORDER BY created_at DESC LIMIT ?", (*params, limit))
            return [
                Feedback(r[0], r[1], r[2], _thumbs(r[3]), r[4], r[5], r[6]) for r in rows.fetchall()
            ]

    def summary(
        self, *, tenant_id: str = DEFAULT_TENANT, since: float | None = None
    ) -> list[FeedbackSummary]:
        """Per agent and UTC day, most recent day first."""
        sql = (
            "SELECT coalesce(agent_name, '?'), date(created_at, 'unixepoch'), count(*), "
            "sum(thumbs = 1), sum(thumbs = -1), avg(csat) FROM feedback WHERE tenant_id = ? "
            "AND created_at >= ? GROUP BY 1, 2 ORDER BY 2 DESC, 1"
        )
        with self.db.reading() as conn:
            rows = conn.execute(sql, (tenant_id, since or 0.0)).fetchall()
        return [FeedbackSummary(r[0], r[1], r[2], r[3] or 0, r[4] or 0, r[5]) for r in rows]


def _check(thumbs: str | None, csat: int | None, text: str | None) -> None:
    if thumbs is None and csat is None and not text:
        raise FeedbackError("feedback needs at least one of thumbs, csat or text")
    if thumbs is not None and thumbs not in ("up", "down"):
        raise FeedbackError(f"thumbs must be 'up' or 'down', got {thumbs!r}")
    if csat is not None and not 1 <= csat <= 5:
        raise FeedbackError(f"csat must be a whole number from 1 to 5, got {csat!r}")
    if text is not None and len(text) > MAX_TEXT:
        raise FeedbackError(f"text is {len(text)} characters; at most {MAX_TEXT}")


def _run_of(conn: sqlite3.Connection, tenant_id: str, run_id: str) -> tuple[str | None, str | None]:
    """The run's agent and trace id, from the trace store or the run store."""
    row = conn.execute(
        "SELECT agent_name, trace_id FROM trace_runs WHERE tenant_id = ? AND run_id = ? "
        "ORDER BY started_at LIMIT 1",
        (tenant_id, run_id),
    ).fetchone()
    if row is not None:
        return row[0], row[1]
    row = conn.execute(
        "SELECT agent_name FROM runs WHERE tenant_id = ? AND id = ?", (tenant_id, run_id)
    ).fetchone()
    if row is None:
        raise FeedbackError(f"run_id {run_id!r}: no such run (see `keel traces`)")
    return row[0], None


def _thumbs(score: int | None) -> Thumbs | None:
    return None if score is None else ("up" if score > 0 else "down")
