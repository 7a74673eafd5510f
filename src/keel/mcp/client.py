"""`MCPToolset`: an MCP server's tools as a Keel toolset, through the same gateway.

    from keel.mcp import MCPToolset

    crm = MCPToolset.stdio("python", ["-m", "crm_server"], prefix="crm_")
    files = MCPToolset.http("http://127.0.0.1:8765/mcp")
    agent = Agent(name="desk", tools=[crm, files])

Each MCP tool becomes a `SchemaTool` (its input schema is validated by Keel before the
server sees it). Hints become annotations: `readOnlyHint` → read-only (so retryable),
`idempotentHint` → idempotent, `destructiveHint` → destructive and, unless
`approve_destructive=False`, approval-required. `structuredContent` is returned as the
tool's value; otherwise the text content. A server error is a tool error the model reads;
a dead or silent server raises `ToolUnavailableError` (the gateway turns it into an
"unavailable" result) and the next call reconnects. Names providers reject are mapped
reversibly (see `keel.mcp.names`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

from keel.context import RunContext
from keel.exceptions import KeelError, ToolDefinitionError
from keel.mcp._sdk import OUTAGE_CODES, Client, MCPError, StdioServerParameters, mcp
from keel.mcp.connection import Connection, describe
from keel.mcp.names import ToolNameMap
from keel.tools.base import Tool, ToolAnnotations
from keel.tools.gateway.execute import ToolUnavailableError
from keel.tools.schema_tool import SchemaTool

__all__ = ["MCPToolError", "MCPToolset"]

log = logging.getLogger("keel.mcp")


class MCPToolError(KeelError):
    """The server ran the tool and reported an error (the model reads the message)."""


class MCPToolset:
    """The tools of one MCP server (stdio command or streamable-HTTP URL)."""

    def __init__(
        self,
        server: StdioServerParameters | str,
        *,
        name: str | None = None,
        prefix: str = "",
        timeout: float = 60.0,
        connect_timeout: float = 30.0,
        approve_destructive: bool = True,
        include: Collection[str] | None = None,
        mode: str = "auto",
    ) -> None:
        self.server = server
        self.label = name or _label(server)
        self.names = ToolNameMap(prefix)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.approve_destructive = approve_destructive
        self.include = None if include is None else frozenset(include)
        self.mode = mode
        self._connection: Connection | None = None
        self._lock: asyncio.Lock | None = None
        self._tools: list[Tool] = []

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        **options: Any,
    ) -> MCPToolset:
        params = StdioServerParameters(
            command=command, args=list(args), env=dict(env) if env else None, cwd=cwd
        )
        return cls(params, **options)

    @classmethod
    def http(cls, url: str, **options: Any) -> MCPToolset:
        return cls(url, **options)

    # -- Toolset --------------------------------------------------------------------

    async def list_tools(self, ctx: RunContext) -> Sequence[Tool]:
        """The server's tools now; the last known list if the server cannot answer."""
        try:
            listed = await self._request(_all_tools, "tools/list")
        except ToolUnavailableError:
            if not self._tools:
                raise
            log.warning("MCP server %s is unavailable; keeping its last tool list", self.label)
            return self._tools
        self._tools = [t for t in (self._tool(raw) for raw in listed) if t is not None]
        return self._tools

    async def call(self, original: str, arguments: dict[str, Any]) -> Any:
        """Call the server's tool by its own name; the value the model reads."""
        result = await self._request(
            lambda c: c.call_tool(original, arguments), f"tools/call {original!r}"
        )
        return _value(original, result)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    # -- connection -----------------------------------------------------------------

    async def _request(self, send: Callable[[Client], Awaitable[Any]], what: str) -> Any:
        client = await self._client()
        try:
            async with asyncio.timeout(self.timeout):
                return await send(client)
        except TimeoutError:
            await self._drop()
            raise ToolUnavailableError(
                f"MCP server {self.label} did not answer {what} within {self.timeout:g}s"
            ) from None
        except MCPError as exc:
            if exc.code in OUTAGE_CODES:
                await self._drop()
                raise ToolUnavailableError(
                    f"MCP server {self.label} is not reachable ({exc.message})"
                ) from None
            raise MCPToolError(f"MCP server {self.label} refused {what}: {exc.message}") from None
        except (OSError, EOFError) as exc:
            await self._drop()
            raise ToolUnavailableError(
                f"MCP server {self.label} is not reachable ({describe(exc)})"
            ) from None

    async def _client(self) -> Client:
        if self._lock is None or self._lock_loop is not asyncio.get_running_loop():
            self._lock = asyncio.Lock()
            self._lock_loop = asyncio.get_running_loop()
        async with self._lock:
            live = self._connection
            if live is not None and not live.dead and live.loop is asyncio.get_running_loop():
                assert live.client is not None
                return live.client
            await self._drop()
            self._connection = Connection(self.server, mode=self.mode)
            try:
                return await self._connection.open(self.connect_timeout)
            except Exception as exc:
                reason = "timed out" if isinstance(exc, TimeoutError) else describe(exc)
                raise ToolUnavailableError(
                    f"cannot connect to MCP server {self.label} ({reason})"
                ) from None

    async def _drop(self) -> None:
        old, self._connection = self._connection, None
        if old is not None:
            await old.close()

    _lock_loop: asyncio.AbstractEventLoop | None = None

    # -- mapping --------------------------------------------------------------------

    def _tool(self, raw: mcp.types.Tool) -> Tool | None:
        if self.include is not None and raw.name not in self.include:
            return None
        original = raw.name

        async def handler(arguments: dict[str, Any], ctx: RunContext) -> Any:
            return await self.call(original, arguments)

        try:
            return SchemaTool(
                self.names.safe(original),
                raw.description or raw.title or original,
                _object_schema(raw.input_schema),
                handler,
                annotations=self._annotations(raw.annotations),
            )
        except ToolDefinitionError as exc:
            log.warning("MCP server %s: tool %r left out: %s", self.label, original, exc)
            return None

    def _annotations(self, hints: mcp.types.ToolAnnotations | None) -> ToolAnnotations:
        if hints is None:
            return ToolAnnotations()
        destructive = hints.destructive_hint is True
        return ToolAnnotations(
            read_only=hints.read_only_hint is True,
            destructive=destructive,
            idempotent=hints.idempotent_hint is True,
            requires_approval=destructive and self.approve_destructive,
        )

    def original_name(self, safe: str) -> str:
        return self.names.original(safe)


async def _all_tools(client: Client) -> list[mcp.types.Tool]:
    tools: list[mcp.types.Tool] = []
    cursor: str | None = None
    for _ in range(100):  # a bound: a server whose pages never end cannot hang a run
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    cleaned = {k: v for k, v in schema.items() if k not in ("$schema", "title")}
    cleaned.setdefault("type", "object")
    return cleaned


def _value(name: str, result: mcp.types.CallToolResult) -> Any:
    text = "\n".join(_block_text(block) for block in result.content)
    if result.is_error:
        raise MCPToolError(text or f"the server reported an error in {name!r}")
    if result.structured_content is not None:
        return result.structured_content
    return text


def _block_text(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        return f"[{kind}: {getattr(block, 'mime_type', 'binary')}]"
    resource = getattr(block, "resource", None)
    if resource is not None:
        return str(getattr(resource, "text", "") or f"[resource: {resource.uri}]")
    return f"[{kind or 'content'}]"


def _label(server: StdioServerParameters | str) -> str:
    if isinstance(server, str):
        return server
    from pathlib import Path

    return " ".join([Path(server.command).name, *server.args])
