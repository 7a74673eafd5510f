"""`Telemetry`: hands finished runs to their sinks off the hot path, in batches.

A run's records go into a bounded in-memory queue (an append, ~0.1 µs); a daemon thread
wakes every `interval` seconds (or on `flush`) and gives each sink the batch: the
OpenTelemetry exporter, the trace store, the metrics. A sink that is slow or down slows
only that thread; when the queue is full new runs are dropped and counted in `dropped`,
never waited for. A sink that raises is counted in `sink_errors` and logged (once a
minute at most); the others still get the batch.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from functools import cache
from typing import Any, Protocol, runtime_checkable

from keel.observability.records import RunTrace

__all__ = ["Telemetry", "TraceSink", "app_telemetry", "default_telemetry"]

_log = logging.getLogger("keel.telemetry")


@runtime_checkable
class TraceSink(Protocol):
    """Receives finished runs in batches, on the telemetry thread."""

    def write(self, traces: Sequence[RunTrace]) -> None: ...


class Telemetry:
    """The queue and worker thread between `Tracing` and its sinks."""

    def __init__(
        self,
        sinks: Sequence[TraceSink] = (),
        *,
        max_queue: int = 10_000,
        batch_size: int = 512,
        interval: float = 0.5,
    ) -> None:
        self.sinks = list(sinks)
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval = interval
        self.dropped = 0
        """Runs whose records were dropped because the queue was full."""
        self.sink_errors = 0
        self._queue: deque[RunTrace] = deque()
        self._submitted = self._done = 0
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_error_log = 0.0

    def add_sink(self, sink: TraceSink) -> None:
        self.sinks.append(sink)

    def submit(self, trace: RunTrace) -> None:
        """Queue a finished run; never blocks. Dropped (and counted) when full."""
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            return
        self._queue.append(trace)
        self._submitted += 1
        if self._thread is None:
            self._start()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far reached the sinks; False on timeout."""
        target = self._submitted
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._progress.wait(left):
                    return self._done >= target
        return True

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="keel-telemetry", daemon=True)
        self._thread.start()
        atexit.register(self.flush, 2.0)

    def _work(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            while self._queue:
                self._deliver(self._take())

    def _take(self) -> list[RunTrace]:
        queue, batch = self._queue, list[RunTrace]()
        while queue and len(batch) < self.batch_size:
            batch.append(queue.popleft())
        return batch

    def _deliver(self, batch: list[RunTrace]) -> None:
        for run in batch:
            run.finish()
        for sink in self.sinks:
            try:
                sink.write(batch)
            except Exception as error:  # a sink's failure must not stop the others
                self._sink_failed(sink, error)
        with self._progress:
            self._done += len(batch)
            self._progress.notify_all()

    def _sink_failed(self, sink: TraceSink, error: Exception) -> None:
        self.sink_errors += 1
        now = time.monotonic()
        if now - self._last_error_log >= 60:
            self._last_error_log = now
            _log.warning("telemetry sink %s failed: %s", type(sink).__name__, error)


@cache
def default_telemetry() -> Telemetry:
    """The process's telemetry: exports to the globally configured OpenTelemetry SDK."""
    from keel.observability.otel import OTelSpanSink

    telemetry = Telemetry([OTelSpanSink()])
    metrics = _metrics()
    if metrics is not None:
        telemetry.add_sink(metrics)
        metrics.count_drops_of(telemetry)
    return telemetry


def app_telemetry(store: TraceSink) -> Telemetry:
    """An app's telemetry: the OTel SDK (if configured), its trace store, the metrics."""
    from keel.observability.logs import RunLogger
    from keel.observability.otel import OTelSpanSink

    telemetry = Telemetry([OTelSpanSink(), store, RunLogger()])
    metrics = _metrics()
    if metrics is not None:
        telemetry.add_sink(metrics)
        metrics.count_drops_of(telemetry)
    return telemetry


def _metrics() -> Any:
    try:
        from keel.observability.metrics import default_metrics

        return default_metrics()
    except Exception:  # the metrics extra is not installed: spans only
        return None
