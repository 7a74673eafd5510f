"""An MCP server built with the official `mcp` SDK, for the interop tests.

    python -m tests.mcp_interop.sdk_server            (stdio)
    python -m tests.mcp_interop.sdk_server http PORT  (streamable HTTP at /mcp)

Tools: `orders.lookup` (read-only, structured output; a dotted name providers reject),
`delete order` (destructive; a space in its name), `add` (plain), `crash` (kills the
server process), `fail` (an error result), and a tool with a 70-character name.
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("keel-test-server")


@server.tool(name="orders.lookup", annotations=ToolAnnotations(read_only_hint=True))
def lookup(order_id: str) -> dict[str, str]:
    """Look up an order."""
    return {"order_id": order_id, "status": "shipped"}


@server.tool(name="delete order", annotations=ToolAnnotations(destructive_hint=True))
def delete_order(order_id: str) -> str:
    """Delete an order."""
    return f"deleted {order_id}"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@server.tool()
def fail(message: str) -> str:
    """Always fails."""
    raise ValueError(message)


@server.tool()
def crash() -> str:
    """Kills the server."""
    os._exit(3)


@server.tool(name="a_very_long_tool_name_that_some_openapi_generator_made_" + "x" * 15)
def long_name() -> str:
    """A long name."""
    return "long"


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
