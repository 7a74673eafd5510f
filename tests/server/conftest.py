"""A real server on a spare loopback port, serving a small app of test agents."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from keel import Agent, App, Message, tool
from keel.models.base import ModelRequest
from keel.server import ServerSettings, create_server, hash_key
from keel.server.config import ApiKey
from keel.testing.models import FunctionModel, Reply, tool_call

API_KEY = "sk-test-key"


def _brain(request: ModelRequest) -> Reply:
    """Echoes the user; calls `wire_money` when asked to pay; answers JSON when asked."""
    last = request.messages[-1]
    if last.role == "tool":
        return f"done: {last.parts[0].content}"  # pyright: ignore[reportAttributeAccessIssue]
    text = last.text
    if request.output_schema is not None:
        return json.dumps({"answer": text, "length": len(text)})
    if text.startswith("pay") and request.tools:
        return tool_call(request.tools[0].name, {"amount": 5})
    return f"echo: {text}"


@tool(requires_approval=True)
def wire_money(amount: int) -> str:
    """Send money."""
    return f"sent {amount}"


def make_app(database: Path) -> App:
    echo = Agent(name="echo", model=FunctionModel(_brain))
    payer = Agent(name="payer", model=FunctionModel(_brain), tools=[wire_money])
    plain = Agent(name="plain", model=FunctionModel(_brain))
    return App(agents=[echo, payer, plain], database=database)


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    app: App

    def client(self, key: str | None = API_KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def serve(app: App, settings: ServerSettings) -> Iterator[Served]:
    port = spare_port()
    config = uvicorn.Config(
        create_server(app, settings), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    yield Served(f"http://127.0.0.1:{port}", server, app)
    server.should_exit = True
    thread.join(timeout=30)


def settings(**overrides: object) -> ServerSettings:
    keys = (ApiKey(sha256=hash_key(API_KEY), user_id="alice", tenant_id="acme"),)
    return ServerSettings.model_validate({"api_keys": keys, "max_body_bytes": 64_000} | overrides)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_app(tmp_path / "keel.db"), settings())


__all__ = ["API_KEY", "Message", "Served", "make_app", "serve", "settings", "spare_port"]
