"""Tools beyond functions in a run: schema tools and toolsets listed afresh per run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keel import Agent, RunContext, Runner, SchemaTool, Tool, ToolResultPart
from keel.testing import ScriptedModel, tool_call

ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "pattern": "^A[0-9]+$"}},
    "required": ["order_id"],
    "additionalProperties": False,
}


async def _status(arguments: dict[str, Any], ctx: RunContext) -> str:
    return f"{arguments['order_id']} shipped"


class Catalog:
    """A toolset whose tools change between runs, as an MCP server's may."""

    def __init__(self) -> None:
        self.names = ["order_status"]

    async def list_tools(self, ctx: RunContext) -> Sequence[Tool]:
        return [SchemaTool(n, "Order status.", ORDER_SCHEMA, _status) for n in self.names]


async def test_a_toolset_is_listed_afresh_for_every_run() -> None:
    catalog = Catalog()
    model = ScriptedModel(["one", "two"])
    agent = Agent(name="a", model=model, tools=[catalog])
    runner = Runner()
    await runner.run(agent, "x")
    catalog.names.append("order_status_v2")
    await runner.run(agent, "y")
    assert [t.name for t in model.requests[0].tools] == ["order_status"]
    assert [t.name for t in model.requests[1].tools] == ["order_status", "order_status_v2"]


async def test_schema_tool_arguments_are_checked_before_the_handler_runs() -> None:
    bad = tool_call("order_status", {"order_id": "B7", "extra": 1})
    model = ScriptedModel([bad, tool_call("order_status", {"order_id": "A7"}), "done"])
    agent = Agent(name="a", model=model, tools=[Catalog()])
    result = await Runner().run(agent, "where is my order")
    first, second = (m.parts[0] for m in result.new_messages if m.role == "tool")
    assert isinstance(first, ToolResultPart) and first.is_error
    assert "order_id: 'B7' does not match" in first.content
    assert "extra: Extra inputs are not permitted" in first.content
    assert isinstance(second, ToolResultPart) and second.content == "A7 shipped"
