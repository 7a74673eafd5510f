"""`TurnLoop`: one event loop for a whole command, where Ctrl-C cancels only the turn.

A single loop serves every turn of a chat, so a model client bound to its loop keeps
working from one message to the next. While a turn runs, Ctrl-C cancels it (the runner
then saves nothing) and `run` raises KeyboardInterrupt; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine, Generator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, TypeVar

__all__ = ["FLUSH_SECONDS", "TurnLoop"]

T = TypeVar("T")

FLUSH_SECONDS = 30.0
"""How long a command waits, before it exits, for work the app left running after its
last reply (background fact extraction: `App.flush`)."""


@dataclass(slots=True)
class _Interrupted:
    hit: bool = False


class TurnLoop:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()

    def __enter__(self) -> TurnLoop:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        task = self._loop.create_task(coro)
        with _cancel_on_sigint(self._loop, task) as interrupted:
            try:
                return self._loop.run_until_complete(task)
            except asyncio.CancelledError:
                if interrupted.hit:
                    raise KeyboardInterrupt from None
                raise

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
        finally:
            self._loop.close()


@contextmanager
def _cancel_on_sigint(
    loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]
) -> Generator[_Interrupted]:
    interrupted = _Interrupted()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted  # signal handlers can only be set from the main thread
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if interrupted.hit:
            raise KeyboardInterrupt
        interrupted.hit = True
        loop.call_soon_threadsafe(task.cancel)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
