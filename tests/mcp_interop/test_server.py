"""`keel mcp serve` round trips with the official `mcp` SDK client, stdio and HTTP: the
app's policies and audit apply to every call an MCP host makes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from mcp import Client, StdioServerParameters

from keel.settings import data_dir
from keel.tools.gateway import GatewayStore
from tests.mcp_interop.conftest import ROOT, free_port, wait_for_port

APP = "tests.mcp_interop.served_app:app"


def _serve_args(*extra: str) -> list[str]:
    return ["-m", "keel", "mcp", "serve", "--app", APP, "--user", "mcp-host", *extra]


async def _round_trip(client: Client) -> dict[str, object]:
    listed = await client.list_tools()
    tools = {t.name: t for t in listed.tools}
    lookup = await client.call_tool("lookup_order", {"order_id": "A1"})
    denied = await client.call_tool("refund", {"order_id": "A1", "amount": 500})
    invalid = await client.call_tool("refund", {"order_id": "A1"})
    approval = await client.call_tool("close_account", {"user": "bob"})
    unknown = await client.call_tool("nope", {})
    return {
        "tools": tools,
        "lookup": lookup,
        "denied": denied,
        "invalid": invalid,
        "approval": approval,
        "unknown": unknown,
    }


def _check(seen: dict[str, object]) -> None:
    tools = seen["tools"]
    assert set(tools) == {"lookup_order", "refund", "close_account"}  # type: ignore[arg-type]
    assert tools["lookup_order"].annotations.read_only_hint is True  # type: ignore[index]
    lookup = seen["lookup"]
    assert lookup.structured_content == {"order_id": "A1", "status": "shipped"}  # type: ignore[attr-defined]
    denied = seen["denied"]
    assert denied.is_error and denied.content[0].text == "not allowed: over 100"  # type: ignore[attr-defined]
    invalid = seen["invalid"]
    assert invalid.is_error and "amount: Field required" in invalid.content[0].text  # type: ignore[attr-defined]
    approval = seen["approval"]
    assert approval.is_error and "needs a person's approval" in approval.content[0].text  # type: ignore[attr-defined]
    assert "unknown tool 'nope'" in seen["unknown"].content[0].text  # type: ignore[attr-defined]
    audit = GatewayStore(data_dir() / "keel.db")
    for _ in range(200):  # the server writes its audit behind: poll, bounded, for it
        if len(audit.entries()) >= 5:
            break
        time.sleep(0.05)
    decisions = [e.entry.decision for e in reversed(audit.entries())]
    assert decisions == ["allowed", "denied", "invalid", "approval_required", "unknown_tool"]
    assert {e.entry.user_id for e in audit.entries()} == {"mcp-host"}
    assert audit.verify().ok


async def test_stdio_round_trip_with_the_sdk_client() -> None:
    params = StdioServerParameters(
        command=sys.executable, args=_serve_args(), cwd=str(ROOT), env=dict(os.environ)
    )
    async with Client(params) as client:
        seen = await _round_trip(client)
    _check(seen)


@pytest.fixture
def served_http() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *_serve_args("--http", str(port))],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.kill()
        process.wait()


async def test_streamable_http_round_trip_with_the_sdk_client(served_http: str) -> None:
    async with Client(served_http) as client:
        seen = await _round_trip(client)
    _check(seen)
