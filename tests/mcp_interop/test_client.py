"""MCPToolset against real servers: one built with the `mcp` SDK (stdio and streamable
HTTP) and a raw JSON-RPC one that can misbehave; every call passes the tool gateway."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from keel import Agent, Approve, RunContext, Runner
from keel.mcp import MCPToolset
from keel.testing import ScriptedModel, tool_call
from keel.tools.gateway import Execute, ToolGateway
from tests.gateway.support import run_store, tool_result
from tests.mcp_interop.conftest import ROOT

CTX = RunContext(run_id="r", agent_name="desk")


def sdk_server(**options: Any) -> MCPToolset:
    return MCPToolset.stdio(
        sys.executable, ["-m", "tests.mcp_interop.sdk_server"], cwd=str(ROOT), **options
    )


def raw_server(mode: str = "normal", **options: Any) -> MCPToolset:
    return MCPToolset.stdio(
        sys.executable, ["-m", "tests.mcp_interop.raw_server", mode], cwd=str(ROOT), **options
    )


async def _run(
    toolset: MCPToolset, gateway: ToolGateway, *calls: tuple[str, dict[str, Any]], store: Any = None
) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel([*(tool_call(n, a) for n, a in calls), "done"])
    agent = Agent(name="desk", model=model, tools=[toolset])
    result = await Runner(run_store=store, middleware=[gateway], agents=[agent]).run(agent, "go")
    return result, model


async def test_sdk_server_tools_are_listed_with_safe_names_and_their_hints() -> None:
    toolset = sdk_server()
    try:
        tools = {t.name: t for t in await toolset.list_tools(CTX)}
    finally:
        await toolset.close()
    assert all(re.match(r"^[A-Za-z0-9_-]{1,64}$", name) for name in tools)
    lookup = next(n for n in tools if n.startswith("orders_lookup_"))
    delete = next(n for n in tools if n.startswith("delete_order_"))
    long_name = next(n for n in tools if n.startswith("a_very_long"))
    assert toolset.original_name(lookup) == "orders.lookup"
    assert toolset.original_name(long_name).endswith("x" * 15) and len(long_name) == 64
    assert tools[lookup].annotations.read_only and tools[lookup].annotations.retryable
    assert tools[delete].annotations.requires_approval and tools[delete].annotations.destructive
    assert "add" in tools and not tools["add"].annotations.requires_approval


async def test_calls_through_the_gateway_structured_content_errors_and_a_dead_server(
    tmp_path: Path,
) -> None:
    toolset = sdk_server()
    gateway = ToolGateway(database=tmp_path / "gw.db", execute=Execute(retries=0))
    lookup = toolset.names.safe("orders.lookup")
    try:
        _, model = await _run(
            toolset,
            gateway,
            (lookup, {"order_id": "A1"}),
            ("add", {"a": "x", "b": 1}),
            ("fail", {"message": "boom"}),
            ("crash", {}),
            ("add", {"a": 1, "b": 2}),
        )
    finally:
        await toolset.close()
    assert json.loads(tool_result(model, 1).content) == {"order_id": "A1", "status": "shipped"}
    bad = tool_result(model, 2)
    assert bad.is_error and "a: 'x' is not of type 'integer'" in bad.content  # Keel checked
    failed = tool_result(model, 3)
    assert failed.is_error and "MCPToolError" in failed.content and "fail" in failed.content
    dead = json.loads(tool_result(model, 4).content)
    assert dead["error"] == "unavailable" and "not reachable" in dead["reason"]
    assert tool_result(model, 5).content == '{"result":3}'  # reconnected: a fresh server
    decisions = [e.entry.decision for e in reversed(gateway.store.entries())]
    assert decisions == ["allowed", "invalid", "error", "unavailable", "allowed"]


async def test_a_destructive_mcp_tool_waits_for_approval(tmp_path: Path) -> None:
    toolset = sdk_server()
    gateway = ToolGateway(database=tmp_path / "gw.db")
    store = run_store(tmp_path / "runs.db")
    delete = toolset.names.safe("delete order")
    try:
        result, _ = await _run(toolset, gateway, (delete, {"order_id": "A1"}), store=store)
        assert result.status == "suspended"
        assert result.pending[0].arguments == {"order_id": "A1"}
        agent = Agent(name="desk", model=ScriptedModel(["done"]), tools=[toolset])
        runner = Runner(run_store=store, middleware=[gateway], agents=[agent])
        done = await runner.resume(result.run_id, decisions={result.pending[0].id: Approve()})
    finally:
        await toolset.close()
    assert done.status == "completed"
    assert gateway.store.entries()[0].entry.result == '{"result":"deleted A1"}'


async def test_streamable_http_round_trip(http_server: str, tmp_path: Path) -> None:
    toolset = MCPToolset.http(http_server)
    gateway = ToolGateway(database=tmp_path / "gw.db")
    try:
        _, model = await _run(toolset, gateway, ("add", {"a": 20, "b": 22}))
    finally:
        await toolset.close()
    assert tool_result(model).content == '{"result":42}'  # the structuredContent


async def test_a_raw_json_rpc_server_interoperates(tmp_path: Path) -> None:
    toolset = raw_server()
    gateway = ToolGateway(database=tmp_path / "gw.db")
    try:
        names = [t.name for t in await toolset.list_tools(CTX)]
        _, model = await _run(toolset, gateway, ("echo", {"text": "hello"}))
    finally:
        await toolset.close()
    assert names[0] == "echo" and names[1].startswith("files_remove_")
    assert tool_result(model).content == "hello"


async def test_a_misbehaving_server_gives_clean_unavailable_results(tmp_path: Path) -> None:
    gateway = ToolGateway(database=tmp_path / "gw.db", execute=Execute(retries=0))
    for mode in ("garbage", "hang", "die"):
        toolset = raw_server(mode, timeout=1.0)
        try:
            result, model = await _run(toolset, gateway, ("echo", {"text": "hi"}))
        finally:
            await toolset.close()
        body = json.loads(tool_result(model).content)
        assert result.status == "completed", mode
        assert body["error"] == "unavailable", mode
        assert "did not answer" in body["reason"] or "not reachable" in body["reason"], mode


async def test_a_server_that_cannot_start_is_a_clear_error() -> None:
    from keel.tools.gateway import ToolUnavailableError

    toolset = MCPToolset.stdio("/nonexistent/mcp-server", connect_timeout=5)
    try:
        with pytest.raises(ToolUnavailableError, match="cannot connect to MCP server mcp-server"):
            await toolset.list_tools(CTX)
    finally:
        await toolset.close()
