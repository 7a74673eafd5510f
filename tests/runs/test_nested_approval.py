"""An approval inside an agent called as a tool survives the round trip.

The state design this rests on: the child run's id is derived from the parent call's
idempotency key, so re-invoking the call finds the same child (a stored run id returns
its stored outcome); a suspended child suspends the parent's call (`SuspendRun`); the
parent's approval reaches the child when the call runs again.
"""

from __future__ import annotations

from pathlib import Path

from keel import (
    Agent,
    Approve,
    RunContext,
    Runner,
    tool,
)
from keel.middleware import SuspendRun
from keel.testing import ScriptedModel, tool_call
from tests.runs.support import REFUNDS, durable_runner, refund

billing = Agent(
    name="billing",
    model=ScriptedModel([tool_call("refund", {"order_id": "A1"}), "billing: refunded A1"]),
    tools=[refund],
)


def _runner(path: Path) -> Runner:
    return durable_runner(path, billing)


async def ask_billing_with(runner: Runner, question: str, ctx: RunContext) -> str:
    child_id = f"{ctx.idempotency_key}/billing".replace("/", "-")
    result = await runner.run(
        billing, question, run_id=child_id, principal=ctx.principal, parent_run_id=ctx.run_id
    )
    if result.status == "suspended":
        if ctx.approved:  # a person approved this call: the approval reaches the child
            decisions = {p.id: Approve() for p in result.pending}
            result = await runner.resume(child_id, decisions=decisions, principal=ctx.principal)
        else:
            raise SuspendRun(f"billing waits: {result.pending[0].reason}", "billing")
    return str(result.output)


async def test_an_approval_inside_an_agent_called_as_a_tool_round_trips(tmp_path: Path) -> None:
    runner = _runner(tmp_path / "keel.db")

    @tool
    async def ask_billing(question: str, ctx: RunContext) -> str:
        """Ask the billing specialist."""
        return await ask_billing_with(runner, question, ctx)

    desk = Agent(
        name="desk",
        model=ScriptedModel([tool_call("ask_billing", {"question": "refund A1"}), "desk: done"]),
        tools=[ask_billing],
    )
    first = await runner.run(desk, "please refund A1")
    assert first.status == "suspended"
    [pending] = first.pending
    assert pending.tool_name == "ask_billing" and "billing waits" in pending.reason
    assert REFUNDS == []
    done = await runner.resume(first.run_id, decisions={pending.id: Approve()})
    assert done.status == "completed" and done.output == "desk: done"
    assert REFUNDS == ["A1"]
    children = await runner.run_store.list_runs(status="completed")
    assert {s.agent_name: s.parent_run_id for s in children} == {
        "billing": first.run_id,
        "desk": None,
    }
