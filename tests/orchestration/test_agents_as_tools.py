"""An agent called as a tool: a child run whose usage, spans, approvals and principal
belong to the parent run."""

from __future__ import annotations

from pathlib import Path

from keel import Agent, Approve, Principal, Runner, tool
from keel.testing import ScriptedModel, tool_call
from tests.runs.support import REFUNDS, durable_runner, refund
from tests.tracing_support import Traced


@tool
def lookup(order_id: str) -> str:
    """Find an order."""
    return f"{order_id} shipped"


def _specialist(*replies: object) -> Agent:
    return Agent(name="orders", model=ScriptedModel(list(replies)), tools=[lookup])  # type: ignore[arg-type]


def _supervisor(specialist: Agent, *replies: object) -> Agent:
    return Agent(
        name="desk",
        model=ScriptedModel(list(replies)),  # type: ignore[arg-type]
        tools=[specialist.as_tool(description="Ask the orders specialist.")],
    )


async def test_child_usage_is_added_to_the_parents_and_its_answer_is_the_result() -> None:
    orders = _specialist(tool_call("lookup", {"order_id": "A1"}), "A1 has shipped")
    desk = _supervisor(orders, tool_call("orders", {"input": "where is A1?"}), "It shipped.")
    runner = Runner()
    result = await runner.run(desk, "where is my order A1", principal=Principal(user_id="u1"))
    assert result.output == "It shipped."
    tool_result = result.new_messages[2].parts[0]
    assert getattr(tool_result, "content", "") == "A1 has shipped"
    # two model requests of the desk + two of the child; one tool call each (+ the agent)
    assert result.usage.requests == 4
    assert result.usage.tool_calls == 2
    children = await runner.run_store.list_runs(tenant_id="default")
    assert children == []  # nothing durable: the fast path stores nothing


async def test_child_run_is_stored_under_the_parent_with_the_parents_principal(
    tmp_path: Path,
) -> None:
    orders = _specialist(tool_call("lookup", {"order_id": "A1"}), "A1 has shipped")
    desk = _supervisor(orders, tool_call("orders", {"input": "where is A1?"}), "It shipped.")
    runner = durable_runner(tmp_path / "k.db", desk, orders)
    who = Principal(user_id="ann", tenant_id="acme")
    result = await runner.run(desk, "where is A1", principal=who)
    runs = await runner.run_store.list_runs(tenant_id="acme")
    child = next(r for r in runs if r.agent_name == "orders")
    assert child.parent_run_id == result.run_id
    assert child.principal == who
    assert child.status == "completed"


async def test_child_spans_nest_under_the_parents_tool_span() -> None:
    traced = Traced()
    orders = _specialist("A1 has shipped")
    desk = _supervisor(orders, tool_call("orders", {"input": "where is A1?"}), "It shipped.")
    await traced.runner.run(desk, "where is A1")
    spans = {s.name: s for s in traced.spans()}
    parent_run = spans["invoke_agent desk"]
    tool_span = spans["execute_tool orders"]
    child_run = spans["invoke_agent orders"]
    assert tool_span.parent is not None and parent_run.context is not None
    assert tool_span.parent.span_id == parent_run.context.span_id
    assert child_run.parent is not None and tool_span.context is not None
    assert child_run.parent.span_id == tool_span.context.span_id
    assert child_run.context is not None
    assert child_run.context.trace_id == parent_run.context.trace_id


async def test_an_approval_the_child_waits_on_suspends_the_parent_and_round_trips(
    tmp_path: Path,
) -> None:
    billing = Agent(
        name="billing",
        model=ScriptedModel([tool_call("refund", {"order_id": "A1"}), "refunded A1"]),
        tools=[refund],
    )
    desk = Agent(
        name="desk",
        model=ScriptedModel([tool_call("billing", {"input": "refund A1"}), "done"]),
        tools=[billing.as_tool()],
    )
    runner = durable_runner(tmp_path / "k.db", desk, billing)
    first = await runner.run(desk, "refund A1 please")
    assert first.status == "suspended" and REFUNDS == []
    [pending] = first.pending
    assert pending.tool_name == "billing" and "approval" in pending.reason
    done = await runner.resume(first.run_id, decisions={pending.id: Approve()})
    assert done.status == "completed" and done.output == "done"
    assert REFUNDS == ["A1"]
    children = [r for r in await runner.run_store.list_runs() if r.agent_name == "billing"]
    assert len(children) == 1  # the call ran twice; the child run is one
    assert done.usage.requests == 4  # desk 2 + billing 2, counted once


def test_bad_arguments_for_an_agent_tool_name_the_field() -> None:
    orders = _specialist("x")
    agent_tool = orders.as_tool()
    try:
        agent_tool.validate({"input": ""})
    except Exception as exc:
        assert "input" in str(exc)
    else:
        raise AssertionError("empty input was accepted")
