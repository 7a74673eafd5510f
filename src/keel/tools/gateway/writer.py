"""Group commit for the gateway's settle writes (finish the ledger row + append the audit
entry), off the event loop.

A SQLite commit costs ~60-100 µs of CPU here, more than the rest of the gateway together.
Settling is queued and a daemon thread writes everything queued in one transaction, so
a busy process pays one commit per batch, and the calling coroutine pays a queue put.
What the write-behind gives up is bounded and stated: a process killed between a call's
result and the next flush (`FLUSH_SECONDS`) loses that call's audit entry and leaves its
ledger row `started` — the same state as a kill during the call, which the run's own
records already handle (a rerun only if idempotent, else a person decides). Every side
effect still has a durable ledger row *before* it happens: claims are never deferred.
Within the process, a finished-but-unflushed result is served from memory, so a
duplicate delivery replays it rather than running the tool again.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["FLUSH_SECONDS", "WriteBehind"]

log = logging.getLogger("keel.tools.gateway")

FLUSH_SECONDS = 0.002
"""How long the writer waits for more work before committing a batch."""
IDLE_CHECK_SECONDS = 1.0
"""How often an idle writer thread wakes to see whether its owner is gone."""

T = TypeVar("T")


class WriteBehind(Generic[T]):
    """Items queued from any thread; `write(batch)` called on a daemon thread with every
    item queued so far, in order, until `flush` returns (or the process exits).

    The thread is started by the first `put` and stays (idle, blocked on a condition)
    while this object lives: starting a thread blocks the caller until it runs (~50 µs
    idle, milliseconds on a busy machine), which a call's path must not pay after every
    pause. It holds only a weak reference, so a dropped writer's thread ends."""

    def __init__(self, write: Callable[[Sequence[T]], None]) -> None:
        self._write = write
        self._queue: list[T] = []
        self._lock = threading.Condition()
        self._busy = False
        self._idle = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        _writers.add(self)

    def put(self, item: T) -> None:
        with self._lock:
            self._queue.append(item)
            if self._thread is None or not self._thread.is_alive():  # (or lost in a fork)
                self._thread = threading.Thread(
                    target=WriteBehind._serve, args=(weakref.ref(self), self._lock), daemon=True
                )
                self._thread.name = "keel-audit-writer"
                self._thread.start()
            elif self._idle:
                self._lock.notify()  # only an idle writer is woken: not one gathering

    def flush(self) -> None:
        """Return once everything queued before the call is written."""
        with self._lock:
            while self._queue or self._busy:
                self._lock.wait(0.05)
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _take(self) -> list[T]:
        """Under the lock: the batch to write now (empty: nothing queued)."""
        batch, self._queue = self._queue, []
        self._busy = bool(batch)
        return batch

    def _write_batch(self, batch: list[T]) -> None:
        try:
            self._write(batch)
        except BaseException as exc:  # told now, and raised by the next flush
            log.error("writing %d audit/ledger entries failed: %r", len(batch), exc)
            self.error = exc
        finally:
            with self._lock:
                self._busy = False
                self._lock.notify_all()

    @staticmethod
    def _serve(ref: weakref.ReferenceType[WriteBehind[Any]], lock: threading.Condition) -> None:
        """The writer thread: wait for work (holding no strong reference meanwhile), let a
        burst gather for `FLUSH_SECONDS`, write it as one batch; end when the owner is gone."""
        while True:
            with lock:
                owner = ref()
                if owner is None:
                    return
                if not owner._queue:
                    owner._idle = True
                    del owner
                    lock.wait(IDLE_CHECK_SECONDS)
                    owner = ref()
                    if owner is None:
                        return
                    owner._idle = False
                    if not owner._queue:
                        continue
            time.sleep(FLUSH_SECONDS)  # let a burst gather into one commit
            with lock:
                batch = owner._take()
            if batch:
                owner._write_batch(batch)
            del owner


_writers: weakref.WeakSet[WriteBehind[Any]] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for writer in list(_writers):
        with contextlib.suppress(Exception):  # exiting: nothing left to report to
            writer.flush()
