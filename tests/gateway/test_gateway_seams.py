"""Where the gateway meets the rest of Keel: the app's database, rejections, cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

from keel import Agent, App, Principal, Reject, RunContext, tool
from keel._run.tool_calls import invoke_tool
from keel.messages import ToolCallPart, ToolResultPart
from keel.middleware import ToolCall
from keel.policy import PolicySet, require_approval
from keel.resilience import ManualClock, breaker_for
from keel.storage.sqlite import SQLiteDatabase
from keel.testing import ScriptedModel
from keel.tools.base import Tool
from keel.tools.gateway import Execute, ToolGateway
from tests.gateway.support import call_once, resumer, run_store


@tool
def refund(order_id: str, amount: int) -> str:
    """Refund an order."""
    return f"refunded {amount} on {order_id}"


def test_an_app_and_its_gateway_share_one_connection_to_the_app_database(
    tmp_path: Path,
) -> None:
    agent = Agent(name="desk", model=ScriptedModel(["hi"]))
    gateway = ToolGateway(database=tmp_path / "app.db")
    app = App(agents=[agent], database=tmp_path / "app.db", middleware=[gateway])
    assert app.run_store.db is gateway.store.db  # type: ignore[attr-defined]
    assert ToolGateway(database=str(tmp_path / "." / "app.db")).store.db is gateway.store.db
    assert ToolGateway(database=tmp_path / "other.db").store.db is not gateway.store.db


def test_a_closed_shared_database_is_opened_again(tmp_path: Path) -> None:
    first = SQLiteDatabase.shared(tmp_path / "a.db")
    first.close()
    again = SQLiteDatabase.shared(tmp_path / "a.db")
    assert again is not first and again.schema_version() > 0
    assert SQLiteDatabase.shared(":memory:") is not SQLiteDatabase.shared(":memory:")


async def test_a_rejected_call_is_audited_with_who_rejected_it(tmp_path: Path) -> None:
    policy = PolicySet([require_approval(tools=["refund"], reason="refunds need a person")])
    gw = ToolGateway(policy, database=tmp_path / "gw.db")
    store = run_store(tmp_path / "runs.db")
    args = {"order_id": "A1", "amount": 40}
    alice = Principal("alice", "acme")
    result, _ = await call_once(gw, [refund], "refund", args, principal=alice, store=store)
    pending = result.pending[0].id
    carol = Principal("carol", "acme")
    done = await resumer(store, gw, [refund]).resume(
        result.run_id, decisions={pending: Reject("not this one")}, principal=carol
    )
    assert done.status == "completed"
    newest, first = gw.store.entries()
    assert (first.entry.decision, newest.entry.decision) == ("approval_required", "rejected")
    assert newest.entry.approver == "carol@acme" and newest.entry.tool == "refund"
    assert "rejected this call" in newest.entry.reason and "not this one" in newest.entry.result
    assert gw.store.verify().ok


async def test_a_cancelled_probe_frees_the_half_open_breaker_for_the_next_call(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    gate = asyncio.Event()
    answers: list[str] = ["down", "down", "hang"]

    @tool(idempotent=True)
    async def flaky() -> str:
        """Fails twice, then hangs once, then answers."""
        answer = answers.pop(0) if answers else "ok"
        if answer == "down":
            raise ConnectionError("down")
        if answer == "hang":
            await gate.wait()
        return answer

    execute = Execute(retries=0, breaker_threshold=2, breaker_reset=30, clock=clock)
    gw = ToolGateway(database=tmp_path / "gw.db", execute=execute)
    tools: dict[str, Tool] = {"flaky": flaky}

    async def call(i: int) -> ToolResultPart:
        ctx = RunContext(run_id="r", agent_name="desk", step=1, tool_call_id=f"c{i}")
        part = ToolCallPart("flaky", {}, f"c{i}")
        return await gw.wrap_tool_call(
            ToolCall(context=ctx, call=part, tool=flaky), lambda c: invoke_tool(c, tools, 1000, _no)
        )

    for i in range(2):
        await call(i)
    assert breaker_for("tool:flaky").state == "open"
    clock.advance(31)
    probe = asyncio.create_task(call(2))
    await asyncio.sleep(0.05)  # the probe is out, hanging
    probe.cancel()
    await asyncio.gather(probe, return_exceptions=True)
    answer = await call(3)  # not "unavailable": the cancelled probe gave its slot back
    assert (answer.content, answer.is_error) == ("ok", False)
    assert breaker_for("tool:flaky").state == "closed"


async def _no(call: ToolCall) -> None:
    return None
