"""Triggers: cron schedules and webhooks run agents through the same pipeline, once each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from keel import Agent, App, ConfigurationError
from keel.triggers import Schedule, Scheduler, Webhook, fire_webhook


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _app(path: Path) -> App:
    return App(agents=[Agent(name="reporter", model="test:echo")], database=path)


HOURLY = Schedule("digest", "0 * * * *", "reporter", "send the hourly digest")


async def _runs(app: App) -> list[str]:
    return sorted(r.run_id for r in await app.run_store.list_runs(limit=100))


async def test_a_schedule_fires_once_per_due_time(tmp_path: Path) -> None:
    app = _app(tmp_path / "k.db")
    scheduler = Scheduler(app, [HOURLY])
    assert await scheduler.tick(_at("2026-11-22 10:30")) == []  # a new schedule: no backlog
    [result] = await scheduler.tick(_at("2026-11-22 11:00:05"))
    assert result.output == "echo: send the hourly digest"
    assert await scheduler.tick(_at("2026-11-22 11:20")) == []
    assert await _runs(app) == [f"schedule-digest-{int(_at('2026-11-22 11:00'))}"]


async def test_missed_occurrences_after_a_restart_run_once(tmp_path: Path) -> None:
    app = _app(tmp_path / "k.db")
    await Scheduler(app, [HOURLY]).tick(_at("2026-11-22 10:30"))
    # the process was down from 10:30 to 14:10: 11:00, 12:00, 13:00 and 14:00 were missed
    restarted = Scheduler(_app(tmp_path / "k.db"), [HOURLY])
    fired = await restarted.tick(_at("2026-11-22 14:10"))
    assert len(fired) == 1
    again = Scheduler(_app(tmp_path / "k.db"), [HOURLY])
    assert await again.tick(_at("2026-11-22 14:15")) == []
    assert await _runs(app) == [f"schedule-digest-{int(_at('2026-11-22 14:00'))}"]


async def test_two_schedulers_sharing_a_database_fire_a_due_time_once(tmp_path: Path) -> None:
    one, two = Scheduler(_app(tmp_path / "k.db"), [HOURLY]), None
    await one.tick(_at("2026-11-22 10:30"))
    two = Scheduler(_app(tmp_path / "k.db"), [HOURLY])
    fired = [*await one.tick(_at("2026-11-22 11:01")), *await two.tick(_at("2026-11-22 11:01"))]
    assert len(fired) == 1


def test_bad_cron_or_unknown_agent_fails_at_load(tmp_path: Path) -> None:
    app = _app(tmp_path / "k.db")
    with pytest.raises(ConfigurationError, match="not cron syntax"):
        Scheduler(app, [Schedule("x", "every hour", "reporter", "hi")])
    with pytest.raises(ConfigurationError, match="nobody"):
        Scheduler(app, [Schedule("x", "0 * * * *", "nobody", "hi")])


async def test_a_webhook_payload_runs_once_per_delivery(tmp_path: Path) -> None:
    app = _app(tmp_path / "k.db")
    hook = Webhook("tickets", "reporter", template="New ticket: {subject}", session_field="id")
    payload = {"id": "T-9", "subject": "Lamp flickers"}
    first = await fire_webhook(app, hook, payload, delivery_id="d1")
    again = await fire_webhook(app, hook, payload, delivery_id="d1")  # the sender retried
    assert first.output == again.output == "echo: New ticket: Lamp flickers"
    assert first.run_id == again.run_id and first.session_id == "T-9"
    assert len(await _runs(app)) == 1
    with pytest.raises(ConfigurationError, match="subject"):
        await fire_webhook(app, hook, {"id": "T-10"}, delivery_id="d2")
