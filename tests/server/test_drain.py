"""Graceful shutdown drains: a run whose client left keeps going until it is stored."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from keel import Agent, App
from keel.models.base import ModelRequest
from keel.testing.models import FunctionModel, Reply
from tests.server.conftest import serve, settings

started = threading.Event()
release = threading.Event()


async def _slow(request: ModelRequest) -> Reply:
    started.set()
    while not release.is_set():
        await asyncio.sleep(0.005)
    return "finished after shutdown began"


def test_shutdown_waits_for_runs_in_flight(tmp_path: Path) -> None:
    app = App(agents=[Agent(name="slow", model=FunctionModel(_slow))], database=tmp_path / "k.db")
    served = serve(app, settings())
    server = next(served)
    with server.client() as client:
        with client.stream("POST", "/sessions/d1/messages", json={"input": "go", "stream": True}):
            started.wait(30)
        # The client is gone; the run is still waiting on its model. Stop the server.
        server.server.should_exit = True
        # Let the model answer only once shutdown is under way.
        threading.Timer(0.5, release.set).start()
    next(served, None)  # joins the server thread: lifespan shutdown drains the run
    stored = asyncio.run(app.session_store.load("d1", tenant_id="acme"))
    assert [m.text for m in stored] == ["go", "finished after shutdown began"]
