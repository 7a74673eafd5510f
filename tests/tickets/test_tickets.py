"""Tickets: stored in the app's database, scoped by tenant, listed by `keel tickets`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.cli import cli
from keel.principal import Principal
from keel.storage.sqlite import SQLiteDatabase
from keel.tickets import (
    InMemoryTicketSink,
    SQLiteTicketStore,
    Ticket,
    TicketNotFoundError,
    TicketSink,
)

APP = "tests.cli_app:app"


@pytest.fixture(autouse=True)
def _fresh_test_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delitem(sys.modules, "tests.cli_app", raising=False)
    yield


def _ticket(reason: str = "every model tier failed", **kwargs: object) -> Ticket:
    principal = Principal(user_id="ada", tenant_id=str(kwargs.pop("tenant", "acme")))
    return Ticket.for_principal(
        "model_unavailable",
        reason,
        principal,
        run_id="run_1",
        session_id="s1",
        detail={"tried": ["openai:gpt-4o", "anthropic:claude"]},
    )


async def test_store_round_trips_a_ticket_and_scopes_it_by_tenant(tmp_path: Path) -> None:
    store = SQLiteTicketStore(tmp_path / "keel.db")
    assert isinstance(store, TicketSink)
    opened = await store.open(_ticket())
    assert await store.get(opened.id, tenant_id="acme") == opened
    assert await store.list_tickets(tenant_id="other") == []
    with pytest.raises(TicketNotFoundError, match="keel tickets"):
        await store.get(opened.id, tenant_id="other")


async def test_listing_is_newest_first_and_filters_by_status(tmp_path: Path) -> None:
    store = SQLiteTicketStore(SQLiteDatabase(tmp_path / "keel.db"))
    first = await store.open(_ticket("first"))
    second = await store.open(_ticket("second"))
    listed = await store.list_tickets(tenant_id="acme")
    assert [t.reason for t in listed] == ["second", "first"]
    closed = await store.close(first.id, tenant_id="acme")
    assert closed.status == "closed"
    assert [t.id for t in await store.list_tickets(tenant_id="acme", status="open")] == [second.id]
    assert [t.id for t in await store.list_tickets(tenant_id="acme", limit=1)] == [second.id]


async def test_a_detail_that_cannot_be_stored_as_json_is_stored_as_text(tmp_path: Path) -> None:
    store = SQLiteTicketStore(tmp_path / "keel.db")
    ticket = Ticket("x", "why", detail={"error": ValueError("boom")})
    await store.open(ticket)
    assert (await store.get(ticket.id)).detail == {"error": "boom"}


async def test_in_memory_sink_keeps_what_it_is_given() -> None:
    sink = InMemoryTicketSink()
    ticket = await sink.open(_ticket(tenant="default"))
    assert sink.tickets == [ticket]
    assert (await sink.close(ticket.id)).status == "closed"


def _open_in_app_database() -> Ticket:
    import asyncio

    from tests.cli_app import app

    ticket = _ticket(tenant="default")
    asyncio.run(app.ticket_store.open(ticket))
    return ticket


def test_keel_tickets_lists_the_apps_tickets_as_json() -> None:
    ticket = _open_in_app_database()
    result = CliRunner().invoke(cli, ["tickets", "--app", APP, "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [t["id"] for t in listed] == [ticket.id]
    assert listed[0]["detail"] == {"tried": ["openai:gpt-4o", "anthropic:claude"]}
    assert listed[0]["user_id"] == "ada"


def test_keel_tickets_prints_rows_and_refuses_an_unknown_status() -> None:
    ticket = _open_in_app_database()
    result = CliRunner().invoke(cli, ["tickets", "--app", APP])
    assert result.exit_code == 0
    assert ticket.id in result.stdout and "model_unavailable" in result.stdout
    bad = CliRunner().invoke(cli, ["tickets", "--app", APP, "--status", "pending"])
    assert bad.exit_code == 2
    assert "unknown ticket status 'pending'" in bad.output


def test_keel_tickets_says_when_there_are_none() -> None:
    result = CliRunner().invoke(cli, ["tickets", "--app", APP])
    assert result.exit_code == 0
    assert "no tickets" in result.output
