"""Where runs execute for the API: in this process, detached from the request.

A run started by a request runs in its own task and reports its events through a
`RunHandle`. The request only watches: a client that disconnects mid-stream, or a
request that times out, leaves the run going to completion, its turn stored once. On
shutdown, `drain` waits for the runs in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, Protocol

from keel.events import RunEvent, RunFailed, RunFinished
from keel.exceptions import RunError
from keel.result import RunResult
from keel.server.events import event_json, result_json
from keel.server.limits import AdmissionQueue
from keel.server.problems import status_for

__all__ = ["InProcessRuns", "RunHandle", "RunWatch"]

_END = object()


class RunWatch(Protocol):
    """What a request watches of a run, in this process or on a worker."""

    def wire_events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]: ...

    async def outcome(self, timeout: float | None) -> dict[str, Any]:
        """The result as JSON; TimeoutError after `timeout` seconds (the run goes on)."""
        ...


class RunHandle:
    """One run's events as they happen, for one watcher, and its result."""

    def __init__(self) -> None:
        self._events: asyncio.Queue[object] = asyncio.Queue()
        self._done: asyncio.Future[RunResult[Any]] = asyncio.get_running_loop().create_future()

    def publish(self, event: RunEvent) -> None:
        self._events.put_nowait(event)
        if isinstance(event, RunFinished) and not self._done.done():
            self._done.set_result(event.result)
        elif isinstance(event, RunFailed) and not self._done.done():
            self._done.set_exception(event.error)

    def fail(self, error: BaseException) -> None:
        if not self._done.done():
            self._done.set_exception(error)
        self._events.put_nowait(_END)

    def close(self) -> None:
        if not self._done.done():
            self._done.set_exception(RunError("the run ended without a result"))
        self._events.put_nowait(_END)

    @property
    def error(self) -> BaseException | None:
        """Why the run ended without a result, once it has ended."""
        if not self._done.done() or self._done.cancelled():
            return None
        return self._done.exception()

    async def events(self) -> AsyncIterator[RunEvent]:
        while (event := await self._events.get()) is not _END:
            yield event  # pyright: ignore[reportReturnType]

    async def wire_events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Events as `(name, data)`, then an `error` event if the run was refused."""
        failed = False
        async for event in self.events():
            failed = failed or isinstance(event, RunFailed)
            yield event_json(event)
        error = self.error
        if error is not None and not failed:  # refused before it began (a busy session…)
            yield "error", {"status": status_for(error) or 500, "detail": str(error)}

    async def outcome(self, timeout: float | None) -> dict[str, Any]:
        return result_json(await self.result(timeout))

    async def result(self, timeout: float | None = None) -> RunResult[Any]:
        """The result; TimeoutError after `timeout` seconds (the run goes on)."""
        return await asyncio.wait_for(asyncio.shield(self._done), timeout)


class InProcessRuns:
    """Runs streams of events in background tasks it keeps until they end."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, events: Callable[[], AsyncGenerator[RunEvent]]) -> RunHandle:
        handle = RunHandle()
        task = asyncio.create_task(_pump(events, handle))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        handle._done.add_done_callback(_retrieve)  # pyright: ignore[reportPrivateUsage]
        return handle

    def watch(self, done: Awaitable[Any], queue: AdmissionQueue) -> None:
        """Hold `queue` until `done` (a run on a worker) ends; drained like local runs."""

        async def wait() -> None:
            try:
                await done
            except Exception:
                pass  # its watcher reports how the run ended
            finally:
                await queue.__aexit__(None, None, None)

        task = asyncio.create_task(wait())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the runs in flight."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


async def _pump(events: Callable[[], AsyncGenerator[RunEvent]], handle: RunHandle) -> None:
    try:
        async with aclosing(events()) as stream:
            async for event in stream:
                handle.publish(event)
    except Exception as exc:  # the run failed: its watcher is told
        handle.fail(exc)
        return
    handle.close()


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A run nobody waits for any more may fail; mark its exception seen.
    if not future.cancelled():
        future.exception()
