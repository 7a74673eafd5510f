"""Cron schedules (see the package doc). Times are POSIX seconds in UTC; `tick(now)` is
the whole decision, so tests drive it with chosen times and no clock."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keel.app import App
from keel.exceptions import ConfigurationError, MissingExtraError
from keel.result import RunResult
from keel.storage.sqlite import SQLiteDatabase

__all__ = ["Schedule", "Scheduler"]


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError as exc:  # pragma: no cover - dev installs the extra
        raise MissingExtraError("cron schedules", "triggers") from exc
    return croniter


@dataclass(frozen=True, slots=True)
class Schedule:
    """Run `agent` with `input` at every time `cron` names (five fields, UTC)."""

    name: str
    cron: str
    agent: str
    input: str
    session_id: str | None = None

    def check(self, app: App) -> None:
        if not _croniter().is_valid(self.cron):
            raise ConfigurationError(f"schedule {self.name!r}: {self.cron!r} is not cron syntax")
        app.agent(self.agent)  # ConfigurationError naming the agents if unknown

    def latest_due(self, after: float, now: float) -> float | None:
        """The last due time in (after, now], or None."""
        it = _croniter()(self.cron, datetime.fromtimestamp(now, UTC))
        due = float(it.get_prev(float))
        if due > now:  # croniter returns `now` itself when it matches exactly
            due = float(it.get_prev(float))
        return due if due > after else None

    def next_due(self, now: float) -> float:
        return float(_croniter()(self.cron, datetime.fromtimestamp(now, UTC)).get_next(float))


class Scheduler:
    """Fires an app's schedules; call `tick(now)` or `run_forever()`."""

    def __init__(self, app: App, schedules: Sequence[Schedule]) -> None:
        for schedule in schedules:
            schedule.check(app)
        self.app = app
        self.schedules = list(schedules)
        store: Any = app.session_store
        self.db: SQLiteDatabase = store.db

    async def tick(self, now: float) -> list[RunResult[Any]]:
        """Run every schedule due since it last ran (once each); the results."""
        results: list[RunResult[Any]] = []
        for schedule in self.schedules:
            result = await self._fire(schedule, now)
            if result is not None:
                results.append(result)
        return results

    async def run_forever(self) -> None:  # pragma: no cover - a loop around tick
        while True:
            await self.tick(time.time())
            nearest = min(s.next_due(time.time()) for s in self.schedules)
            await asyncio.sleep(max(0.0, nearest - time.time()))

    async def _fire(self, schedule: Schedule, now: float) -> RunResult[Any] | None:
        last = self._last_due(schedule, now)
        due = schedule.latest_due(last, now)
        if due is None:
            return None
        run_id = f"schedule-{schedule.name}-{int(due)}"
        if not self._claim(schedule, due, run_id):
            return None  # another scheduler fired this due time
        agent = self.app.agent(schedule.agent)
        return await self.app.runner.run(
            agent, schedule.input, run_id=run_id, session_id=schedule.session_id
        )

    def _last_due(self, schedule: Schedule, now: float) -> float:
        """The last handled due time; a new schedule starts from `now` (no backlog)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO trigger_schedules (name, last_due) VALUES (?, ?)",
                (schedule.name, now),
            )
            (last,) = conn.execute(
                "SELECT last_due FROM trigger_schedules WHERE name = ?", (schedule.name,)
            ).fetchone()
        return float(last)

    def _claim(self, schedule: Schedule, due: float, run_id: str) -> bool:
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO trigger_fires VALUES (?, ?, ?, ?)",
                    (schedule.name, due, run_id, time.time()),
                )
                conn.execute(
                    "UPDATE trigger_schedules SET last_due = max(last_due, ?) WHERE name = ?",
                    (due, schedule.name),
                )
        except sqlite3.IntegrityError:
            return False
        return True
