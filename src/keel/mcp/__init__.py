"""MCP both ways (extra `mcp`): `MCPToolset` connects to MCP servers over stdio or
streamable HTTP and lists their tools as a toolset that passes the tool gateway;
`keel mcp serve` exposes an app's tools, through the gateway, to any MCP host."""

from keel.mcp.client import MCPToolError, MCPToolset
from keel.mcp.names import ToolNameMap, provider_safe

__all__ = ["MCPToolError", "MCPToolset", "ToolNameMap", "provider_safe"]
