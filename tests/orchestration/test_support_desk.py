"""The reference support desk end to end: routing, narrow specialists, an approved
refund, an address change, the human queue and its CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import keel.examples.support_desk as desk_module
from keel import Approve
from keel.app import App
from keel.cli import cli
from keel.examples.support_desk import build_app
from keel.examples.support_desk.store import desk_store
from keel.handoffs.human import HumanQueue
from keel.testing import ScriptedModel, tool_call
from keel.tools.gateway import ToolGateway


def _desk(tmp_path: Path, **models: ScriptedModel) -> App:
    return build_app(models=models, database=tmp_path / "keel.db")


def test_specialists_have_narrow_tool_sets(tmp_path: Path) -> None:
    app = _desk(tmp_path)
    tools = {a.name: sorted(a.tool_map) for a in app.agents}
    assert tools == {
        "desk": [],
        "orders": ["change_shipping_address", "lookup_order"],
        "returns": ["return_policy", "start_return"],
        "product": ["search_products"],
        "billing": ["payment_status", "refund_order"],
    }


async def test_an_order_question_goes_to_orders_without_a_routing_model_call(
    tmp_path: Path,
) -> None:
    orders = ScriptedModel([tool_call("lookup_order", {"order_id": "A1001"}), "Shipped."])
    desk = ScriptedModel([])
    app = _desk(tmp_path, orders=orders, desk=desk)
    result = await app.runner.run(app.agent(), "where is my order A1001?", session_id="s1")
    assert (result.agent_name, result.output) == ("orders", "Shipped.")
    assert desk.requests == []
    assert '"status":"shipped"' in result.new_messages[-2].parts[0].content  # type: ignore[union-attr]


async def test_an_address_change_updates_the_desks_store(tmp_path: Path) -> None:
    change = {"order_id": "A1002", "new_address": "12 High Street, York"}
    orders = ScriptedModel([tool_call("change_shipping_address", change), "Done."])
    app = _desk(tmp_path, orders=orders)
    await app.runner.run(app.agent(), "please change the address on order A1002", session_id="s")
    assert desk_store().order("A1002")["address"] == "12 High Street, York"  # type: ignore[index]


async def test_a_refund_waits_for_a_persons_approval(tmp_path: Path) -> None:
    refund = tool_call("refund_order", {"order_id": "A1004", "reason": "faulty"})
    billing = ScriptedModel([refund, "Refunded 120.00 to your card."])
    app = _desk(tmp_path, billing=billing)
    first = await app.runner.run(app.agent(), "I want a refund for order A1004", session_id="s")
    assert first.status == "suspended" and first.agent_name == "billing"
    assert desk_store().payment("A1004")["refunded"] == 0  # type: ignore[index]
    done = await app.runner.resume(first.run_id, decisions={first.pending[0].id: Approve()})
    assert done.output == "Refunded 120.00 to your card."
    assert desk_store().payment("A1004")["refunded"] == 120.0  # type: ignore[index]


async def test_a_refund_over_the_limit_is_refused_by_the_gateway_and_audited(
    tmp_path: Path,
) -> None:
    refund = tool_call("refund_order", {"order_id": "A1003", "reason": "faulty"})
    billing = ScriptedModel([refund, "Finance will handle that refund."])
    app = _desk(tmp_path, billing=billing)
    done = await app.runner.run(app.agent(), "I want a refund for order A1003", session_id="s")
    assert done.status == "completed" and done.output == "Finance will handle that refund."
    told = billing.requests[1].messages[-1].parts[0].content  # type: ignore[union-attr]
    assert "refunds over 200 go through the finance team" in told
    assert desk_store().payment("A1003")["refunded"] == 0  # type: ignore[index]
    gateway = next(m for m in app.middleware if isinstance(m, ToolGateway))
    gateway.store.flush()
    assert [e.entry.decision for e in gateway.store.entries()] == ["denied"]
    assert gateway.store.verify().ok


async def test_two_unplaceable_turns_in_a_row_go_to_a_person(tmp_path: Path) -> None:
    app = _desk(tmp_path)
    first = await app.runner.run(app.agent(), "tell me a joke", session_id="s1")
    assert "Which one is it about" in str(first.output)
    second = await app.runner.run(app.agent(), "sing me a song", session_id="s1")
    assert "member of our team" in str(second.output)
    [item] = HumanQueue(app.session_store.db).list()  # type: ignore[attr-defined]
    assert item.trigger == "low_confidence"


def test_the_handoffs_cli_lists_claims_replies_and_hands_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _desk(tmp_path)
    monkeypatch.setattr(desk_module, "app", app)
    asyncio.run(app.runner.run(app.agent(), "I want to talk to a human", session_id="s1"))
    listed = CliRunner().invoke(cli, ["handoffs", "--json"])
    assert listed.exit_code == 0, listed.output
    [item] = json.loads(listed.stdout)
    hid = item["id"]
    assert item["status"] == "open" and item["trigger"] == "explicit_request"
    early = CliRunner().invoke(cli, ["handoffs", "reply", hid, "hi", "--as", "sam"])
    assert early.exit_code == 1 and "claim" in early.stderr
    assert CliRunner().invoke(cli, ["handoffs", "claim", hid, "--as", "sam"]).exit_code == 0
    again = CliRunner().invoke(cli, ["handoffs", "claim", hid, "--as", "kim"])
    assert again.exit_code == 1 and "claimed by sam" in again.stderr
    reply = CliRunner().invoke(cli, ["handoffs", "reply", hid, "Hi, Sam here.", "--as", "sam"])
    assert reply.exit_code == 0, reply.output
    stored = asyncio.run(app.session_store.load("s1"))
    assert (stored[-1].text, stored[-1].agent) == ("Hi, Sam here.", "human:sam")
    assert CliRunner().invoke(cli, ["handoffs", "handback", hid, "--as", "sam"]).exit_code == 0
    twice = CliRunner().invoke(cli, ["handoffs", "handback", hid, "--as", "sam"])
    assert twice.exit_code == 1 and "returned" in twice.stderr
    unknown = CliRunner().invoke(cli, ["handoffs", "show", "nope"])
    assert unknown.exit_code == 2


@pytest.mark.local_model
async def test_the_desk_on_the_local_model_answers_an_order_question(tmp_path: Path) -> None:
    app = build_app(database=tmp_path / "keel.db")
    result = await app.runner.run(app.agent(), "Where is my order A1001?", session_id="s1")
    assert result.agent_name == "orders"
    called = [p.tool_name for m in result.new_messages for p in m.tool_calls]
    assert "lookup_order" in called
    assert "tuesday" in str(result.output).lower() or "shipped" in str(result.output).lower()
