"""A minimal MCP server speaking raw JSON-RPC over stdio: no SDK, one line per message.

    python -m tests.mcp_interop.raw_server [normal|garbage|hang|die]

It answers `initialize`, `tools/list`, `tools/call` and `ping`; anything else gets
"method not found". The mode says how `tools/call` of `echo` misbehaves: answer garbage
(not JSON), never answer, or exit.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

MODE = sys.argv[1] if len(sys.argv) > 1 else "normal"

TOOLS = [
    {
        "name": "echo",
        "description": "Echo the text back.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True},
    },
    {
        "name": "files/remove",
        "description": "Remove a file.",
        "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}},
        "annotations": {"destructiveHint": True},
    },
]


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def result(request_id: Any, value: dict[str, Any]) -> None:
    send({"jsonrpc": "2.0", "id": request_id, "result": value})


def call(request_id: Any, params: dict[str, Any]) -> None:
    if params.get("name") == "files/remove":
        path = params.get("arguments", {}).get("path")
        result(request_id, {"content": [{"type": "text", "text": f"removed {path}"}]})
        return
    if MODE == "garbage":
        sys.stdout.write("this is not JSON {\n")
        sys.stdout.flush()
        return
    if MODE == "hang":
        time.sleep(600)
    if MODE == "die":
        sys.exit(1)
    text = params.get("arguments", {}).get("text", "")
    result(request_id, {"content": [{"type": "text", "text": text}], "isError": False})


def handle(message: dict[str, Any]) -> None:
    method, request_id = message.get("method"), message.get("id")
    if request_id is None:
        return  # a notification
    if method == "initialize":
        version = message.get("params", {}).get("protocolVersion", "2025-06-18")
        result(
            request_id,
            {
                "protocolVersion": version,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "raw", "version": "0.1"},
            },
        )
    elif method == "tools/list":
        result(request_id, {"tools": TOOLS})
    elif method == "tools/call":
        call(request_id, message.get("params", {}))
    elif method == "ping":
        result(request_id, {})
    else:
        error = {"code": -32601, "message": f"method not found: {method}"}
        send({"jsonrpc": "2.0", "id": request_id, "error": error})


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            handle(json.loads(line))


if __name__ == "__main__":
    main()
