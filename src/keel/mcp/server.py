"""`AppToolServer`: an app's tools as an MCP server, every call through the tool gateway.

`keel mcp serve` runs one over stdio (for a host that starts it) or streamable HTTP. A
call runs the same tool-call middleware chain as a run does — the app's and the agent's
middleware, with a `ToolGateway` on the app's database added in front when the chain has
none — so policies, validation, the ledger and the audit apply to MCP hosts as they do
to agents. There is no run to suspend over MCP: a call that needs a person's approval is
answered as an error saying so, and nothing runs.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any, cast

import keel
from keel._run.builtin import ApprovalGate
from keel._run.pipeline import Pipeline
from keel._run.tool_calls import invoke_tool
from keel.context import RunContext
from keel.mcp._sdk import mcp
from keel.messages import ModelResponse, ToolCallPart, ToolResultPart
from keel.middleware import Middleware, ModelCall, SuspendRun, ToolCall
from keel.principal import ANONYMOUS, Principal
from keel.tools.base import Tool
from keel.tools.gateway import ToolGateway

if TYPE_CHECKING:
    from keel.app import App

__all__ = ["AppToolServer"]

types = mcp.types


class AppToolServer:
    """Serves `agent`'s tools (the app's default agent) acting as `principal`."""

    def __init__(
        self, app: App, *, agent: str | None = None, principal: Principal = ANONYMOUS
    ) -> None:
        from mcp.server.lowlevel import Server

        self.agent = app.agent(agent)
        self.principal = principal
        chain = [*app.middleware, *self.agent.middleware]
        if not any(isinstance(m, ToolGateway) for m in chain):
            chain.insert(0, ToolGateway(database=app.database_path))
        self.middleware: list[Middleware] = chain
        self.session = f"mcp-{uuid.uuid4().hex[:12]}"
        self.server = Server(
            f"keel-{self.agent.name}",
            version=keel.__version__,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    async def tools(self) -> dict[str, Tool]:
        tools = dict(self.agent.tool_map)
        for toolset in self.agent.toolsets:
            for item in await toolset.list_tools(self._context(None)):
                tools[item.name] = item
        return tools

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResultPart:
        """One call through the middleware chain, as a run would make it."""
        tools = await self.tools()
        call_id = f"mcp_{uuid.uuid4().hex[:16]}"
        part = ToolCallPart(name, arguments, call_id)
        call = ToolCall(context=self._context(call_id), call=part, tool=tools.get(name))
        pipeline = self._pipeline(tools)
        try:
            return await pipeline.tool(call)
        except SuspendRun as suspension:
            text = (
                f"not run: {name!r} needs a person's approval ({suspension.reason}), which "
                "an MCP call cannot wait for; ask for it through a Keel run instead"
            )
            return ToolResultPart(call_id, name, text, is_error=True)

    def _pipeline(self, tools: dict[str, Tool]) -> Pipeline:
        chain = list(self.middleware)
        if any(t.annotations.requires_approval for t in tools.values()):
            chain.append(ApprovalGate())
        limit = self.agent.limits.max_tool_result_chars

        async def run_tool(call: ToolCall) -> ToolResultPart:
            call.reached = True
            return await invoke_tool(call, tools, limit, _nothing_to_record)

        return Pipeline.build(chain, _no_model, run_tool)

    def _context(self, call_id: str | None) -> RunContext:
        return RunContext(
            run_id=self.session,
            agent_name=self.agent.name,
            principal=self.principal,
            tool_call_id=call_id,
        )

    async def _list_tools(self, ctx: Any, params: Any) -> Any:
        listed = [_describe(t) for t in (await self.tools()).values()]
        return types.ListToolsResult(tools=listed)

    async def _call_tool(self, ctx: Any, params: Any) -> Any:
        result = await self.call(params.name, dict(params.arguments or {}))
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.content)],
            structured_content=_structured(result),
            is_error=result.is_error,
        )

    async def serve_stdio(self) -> None:
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            await self.server.run(read, write, self.server.create_initialization_options())

    async def serve_http(self, host: str, port: int) -> None:
        import uvicorn

        app = self.server.streamable_http_app(host=host)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning")
        await uvicorn.Server(config).serve()


def _describe(item: Tool) -> Any:
    hints = item.annotations
    return types.Tool(
        name=item.name,
        description=item.description,
        input_schema=item.parameters,
        annotations=types.ToolAnnotations(
            read_only_hint=hints.read_only,
            destructive_hint=hints.destructive,
            idempotent_hint=hints.idempotent,
        ),
    )


def _structured(result: ToolResultPart) -> dict[str, Any] | None:
    if result.is_error or not result.content.startswith("{"):
        return None
    try:
        value: Any = json.loads(result.content)
    except ValueError:
        return None
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


async def _nothing_to_record(call: ToolCall) -> None:
    return None  # no run state to checkpoint: the gateway's ledger guards side effects


async def _no_model(call: ModelCall) -> ModelResponse:
    raise AssertionError("an MCP tool call never calls a model")
