"""Run one tool call through a gateway inside a real run, and read what the model got."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keel import Agent, Principal, Runner, RunResult
from keel.messages import ToolResultPart
from keel.runs.store import RunStore
from keel.storage.sqlite import SQLiteDatabase
from keel.storage.sqlite_runs import SQLiteRunStore
from keel.testing import ScriptedModel, tool_call
from keel.tools.base import Tool
from keel.tools.gateway import ToolGateway


def tool_result(model: ScriptedModel, index: int = 1) -> ToolResultPart:
    """The tool result the model read in request `index`."""
    part = model.requests[index].messages[-1].parts[0]
    assert isinstance(part, ToolResultPart)
    return part


def run_store(path: Path) -> RunStore:
    return SQLiteRunStore(SQLiteDatabase(path))


async def call_once(
    gateway: ToolGateway,
    tools: Sequence[Tool],
    name: str,
    arguments: dict[str, Any],
    *,
    principal: Principal | None = None,
    store: RunStore | None = None,
) -> tuple[RunResult[Any], ScriptedModel]:
    """The model calls `name` once, then answers "done"."""
    model = ScriptedModel([tool_call(name, arguments), "done"])
    agent = Agent(name="desk", model=model, tools=list(tools))
    runner = Runner(run_store=store, middleware=[gateway])
    result = await runner.run(agent, "go", principal=principal)
    return result, model


def resumer(store: RunStore, gateway: ToolGateway, tools: Sequence[Tool], **kw: Any) -> Runner:
    """A runner (another process, as it were) that continues the desk agent's runs."""
    agent = Agent(name="desk", model=ScriptedModel(["done"]), tools=list(tools))
    return Runner(run_store=store, middleware=[gateway], agents=[agent], **kw)
