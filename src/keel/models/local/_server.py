"""Loaded llama.cpp servers: one per model file and options, shared by the whole process.

Why a thread, a lock and a stop flag: xllamacpp's calls block until generation ends, so
they run in the loaded server's own worker thread and the event loop keeps serving other
runs; the lock keeps the server's single slot (and its prompt cache) for one generation at
a time. Every generation streams internally: the per-token callback is where a cancelled
caller is noticed, and returning True from it makes llama.cpp cancel the task — so a
timed-out `request` or an abandoned `stream` frees the model within a token instead of
holding it until `max_tokens`.

Why a process-level cache: loading costs a second or more and ~0.5 GB of memory, so
models naming the same file with the same options share one loaded server.

xllamacpp is imported when the first server starts, never at import time.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

from keel.exceptions import MissingExtraError, ModelAssetError, ModelError
from keel.models.local._completion import Completion, Payload, StreamAccumulator, check_error

__all__ = ["LoadedServer", "ServerKey", "complete", "shared_server", "stream"]

ChunkSink = Callable[[Payload], object]


@dataclass(frozen=True, slots=True)
class ServerKey:
    """What makes two loaded servers interchangeable: the file and the load options."""

    path: str
    n_ctx: int
    threads: int


class LoadedServer:
    """One xllamacpp server, its generation thread, and the lock that gives it one at a time.

    Generations run in the server's own single thread rather than the event loop's shared
    pool: requests queued for a busy model wait there, without taking the pool's threads
    from blocking tools, and one not yet started is simply dropped when cancelled.
    """

    def __init__(self, key: ServerKey, server: Any) -> None:
        self.key = key
        self._server = server
        self._lock = threading.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keel-llama")

    def submit(
        self, payload: Payload, sink: ChunkSink, stop: threading.Event
    ) -> asyncio.Future[None]:
        """`generate` in the server's thread, as a future of the running event loop."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._thread, self.generate, payload, sink, stop)

    def generate(self, payload: Payload, sink: ChunkSink, stop: threading.Event) -> None:
        """Stream one chat completion into `sink` (blocking) until done or `stop` is set."""
        failures: list[BaseException] = []

        def on_chunk(chunk: Payload) -> bool:
            # Returning True asks llama.cpp to cancel the task. xllamacpp swallows
            # exceptions raised here, so they are kept and re-raised after the call.
            if stop.is_set():
                return True
            try:
                sink(chunk)
            except BaseException as exc:
                failures.append(exc)
                return True
            return False

        with self._lock:
            if stop.is_set():
                return
            self._call(payload, on_chunk)
        if failures:
            raise failures[0]

    def _call(self, payload: Payload, on_chunk: Callable[[Payload], bool]) -> None:
        request = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        try:
            answer: Any = self._server.handle_chat_completions(request, on_chunk)
        except (ValueError, RuntimeError) as exc:  # a request llama.cpp cannot parse
            raise ModelError(f"the local model rejected the request: {exc}") from exc
        if isinstance(answer, dict):  # an error answered without streaming
            check_error(cast("Payload", answer))


_servers: dict[ServerKey, LoadedServer] = {}
_servers_lock = threading.Lock()


def shared_server(key: ServerKey, verbose: bool) -> LoadedServer:
    """The process's server for `key`, loading it on first use. Blocking."""
    with _servers_lock:  # held while loading: two models never load the same file twice
        loaded = _servers.get(key)
        if loaded is None:
            loaded = _servers[key] = LoadedServer(key, _start_server(key, verbose))
        return loaded


def _start_server(key: ServerKey, verbose: bool) -> Any:
    try:
        xllamacpp: Any = importlib.import_module("xllamacpp")
    except ImportError as exc:
        raise MissingExtraError("the local model", "local") from exc
    params: Any = xllamacpp.CommonParams()
    params.model.path = key.path
    params.n_ctx = key.n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = key.threads
    params.cpuparams_batch.n_threads = key.threads
    params.warmup = False
    params.verbosity = 3 if verbose else 0  # llama.cpp's log level is process-wide
    try:
        return xllamacpp.Server(params)
    except Exception as exc:
        raise ModelAssetError(
            f"llama.cpp could not load {key.path}: {exc}; check that it is a complete GGUF "
            "file and that n_ctx fits in memory"
        ) from exc


async def complete(server: LoadedServer, payload: Payload) -> Completion:
    """Run one generation to its end; cancelling the caller stops llama.cpp too."""
    accumulator = StreamAccumulator()
    stop = threading.Event()
    try:
        await server.submit(payload, accumulator.feed, stop)
    finally:
        stop.set()
    return accumulator.result()


_DONE = object()


async def stream(server: LoadedServer, payload: Payload) -> AsyncIterator[str | Completion]:
    """Text pieces as llama.cpp produces them, then the whole Completion."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    accumulator = StreamAccumulator()
    stop = threading.Event()

    def sink(chunk: Payload) -> None:  # runs in the worker thread
        text = accumulator.feed(chunk)
        if text:
            loop.call_soon_threadsafe(queue.put_nowait, text)

    worker = server.submit(payload, sink, stop)
    worker.add_done_callback(lambda _: queue.put_nowait(_DONE))
    try:
        while (item := await queue.get()) is not _DONE:
            yield str(item)
        await worker  # raises what the generation raised
        yield accumulator.result()
    finally:
        stop.set()  # a running generation stops at its next token
        worker.cancel()  # one still queued never starts
        worker.add_done_callback(_consume_exception)


def _consume_exception(future: asyncio.Future[None]) -> None:
    # An abandoned stream's worker may still fail; nobody awaits it, so say it was seen.
    if not future.cancelled():
        future.exception()
