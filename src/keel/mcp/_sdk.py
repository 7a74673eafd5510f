"""The `mcp` SDK, imported in one place so a missing extra is one clear error."""

from __future__ import annotations

from keel.exceptions import MissingExtraError

try:
    import mcp
    from mcp import Client, StdioServerParameters
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("MCP support (keel.mcp)", "mcp") from exc

__all__ = ["OUTAGE_CODES", "Client", "MCPError", "StdioServerParameters", "mcp"]

CONNECTION_CLOSED = -32000
REQUEST_TIMEOUT = -32001
OUTAGE_CODES = frozenset({CONNECTION_CLOSED, REQUEST_TIMEOUT})
"""JSON-RPC error codes the SDK uses when the server itself is gone or silent."""
