"""The model sits behind a bounded queue: when it is full, 429 with Retry-After."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI

from keel import Agent, App
from keel.models.base import ModelRequest
from keel.testing.models import FunctionModel, Reply
from tests.server.conftest import Served, serve, settings

release = threading.Event()


async def _held(request: ModelRequest) -> Reply:
    while not release.is_set():
        await asyncio.sleep(0.005)
    return "finally"


@pytest.fixture
def busy(tmp_path: Path) -> Iterator[Served]:
    release.clear()
    app = App(agents=[Agent(name="slow", model=FunctionModel(_held))], database=tmp_path / "k.db")
    queue = {"max_active": 1, "max_waiting": 1, "retry_after_s": 7}
    yield from serve(app, settings(queue=queue))
    release.set()


def test_past_the_queue_requests_get_429_with_retry_after(busy: Served) -> None:
    with busy.client() as client, ThreadPoolExecutor(2) as pool:
        first = pool.submit(client.post, "/sessions/a/messages", json={"input": "1"})
        second = pool.submit(client.post, "/sessions/b/messages", json={"input": "2"})
        queue = cast(FastAPI, busy.server.config.app).state.keel.remote_queue
        while queue.waiting < 1:  # one runs, one waits: the queue is full
            release.wait(0.01)
        third = client.post("/sessions/c/messages", json={"input": "3"})
        assert third.status_code == 429
        assert third.headers["retry-after"] == "7"
        assert client.get("/sessions/c/messages").status_code == 404  # nothing stored
        release.set()
        assert first.result().json()["output"] == "finally"
        assert second.result().json()["output"] == "finally"
