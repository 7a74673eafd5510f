"""One live MCP session, owned by a task of its own.

The SDK's `Client` is an async context manager built on anyio task groups, which must
be exited by the task that entered them; a toolset is used by many runs (tasks), so a
dedicated task enters it, serves calls made from any task, and exits it on `close`.
A connection that failed (the server died, stopped answering, answered garbage) is
marked dead; the toolset opens a fresh one on its next use.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from keel.mcp._sdk import Client, StdioServerParameters

__all__ = ["Connection"]


class Connection:
    def __init__(self, target: StdioServerParameters | str, *, mode: str) -> None:
        self.target = target
        self.mode = mode
        self.client: Client | None = None
        self.error: BaseException | None = None
        self.dead = False
        self.loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self, timeout: float) -> Client:
        self._task = asyncio.create_task(self._own(), name="keel-mcp-connection")
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            self.dead = True
            self._task.cancel()
            raise
        if self.client is None:
            self.dead = True
            raise self.error or ConnectionError("the MCP connection closed while opening")
        return self.client

    async def _own(self) -> None:
        try:
            async with Client(self.target, mode=self.mode) as client:
                self.client = client
                self._ready.set()
                await self._closing.wait()
        except Exception as exc:
            self.error = exc
        finally:
            self.dead = True
            self.client = None
            self._ready.set()

    async def close(self) -> None:
        self.dead = True
        self._closing.set()
        if self._task is not None and self.loop is asyncio.get_running_loop():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                async with asyncio.timeout(5):
                    await asyncio.shield(self._task)
            if not self._task.done():
                self._task.cancel()


def describe(exc: BaseException) -> str:
    text: Any = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
