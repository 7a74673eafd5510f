"""`LocalModel`: the `Model` protocol over a loaded llama.cpp server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from keel.exceptions import ModelAssetError
from keel.messages import ModelResponse, Usage
from keel.models.base import ModelRequest, ModelStreamEvent, ProgressCallback, TextDelta
from keel.models.local import _protocol as protocol
from keel.models.local import _server as server
from keel.models.local._assets import DEFAULT_ALIAS, ModelAsset, ensure_asset, find_asset
from keel.models.local._completion import text_response

__all__ = ["LocalModel"]


class LocalModel:
    """A GGUF model run by llama.cpp in this process; implements `Model` and `prepare`.

    `source` is a catalog alias (`qwen2.5-coder-0.5b`) or a path to a `.gguf` file.
    `n_ctx` is the context window in tokens; `threads` the CPU threads used (default: up
    to 4). `verbose` lets llama.cpp log to stderr.
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        *,
        n_ctx: int = 4096,
        threads: int | None = None,
        verbose: bool = False,
    ) -> None:
        self._source, self._name = _resolve(source)
        self._n_ctx = n_ctx
        self._threads = threads or min(4, os.cpu_count() or 1)
        self._verbose = verbose
        self._loaded: server.LoadedServer | None = None

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
        if self._loaded is not None:
            return Path(self._loaded.key.path)
        # An alias's file lives in KEEL_CACHE as it is when the model loads, not when it
        # was named: model objects are shared by the whole process (see the registry).
        return self._source.path if isinstance(self._source, ModelAsset) else self._source

    def prepare(self, progress: ProgressCallback | None = None) -> None:
        """Assemble the model file if needed, then load it. Blocking; idempotent."""
        if self._loaded is not None:
            return
        if isinstance(self._source, ModelAsset):
            ensure_asset(self._source, progress)
        elif not self._source.is_file():
            raise ModelAssetError(f"the model file {self._source} no longer exists")
        if progress is not None:
            progress(f"loading {self._name}", None)
        key = server.ServerKey(str(self.path), self._n_ctx, self._threads)
        self._loaded = server.shared_server(key, self._verbose)
        if progress is not None:
            progress(f"loaded {self._name}", 1.0)

    async def request(self, request: ModelRequest) -> ModelResponse:
        loaded = await self._server()
        if not request.tools:
            completion = await server.complete(loaded, protocol.chat_payload(request))
            return text_response(completion, self._name)
        decided, earlier = await self._decide(loaded, request)
        if decided is not None:
            return decided
        completion = await server.complete(loaded, protocol.chat_payload(request))
        return text_response(completion, self._name, earlier)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        loaded = await self._server()
        earlier: Usage | None = None
        if request.tools:
            decided, earlier = await self._decide(loaded, request)
            if decided is not None:
                if decided.message.text:  # a final structured answer arrives in one piece
                    yield TextDelta(decided.message.text)
                yield decided
                return
        async for item in server.stream(loaded, protocol.chat_payload(request)):
            if isinstance(item, str):
                yield TextDelta(item)
            else:
                yield text_response(item, self._name, earlier)

    async def _decide(
        self, loaded: server.LoadedServer, request: ModelRequest
    ) -> tuple[ModelResponse | None, Usage]:
        """Ask for the envelope; a tool call or final answer, or None to reply in text."""
        completion = await server.complete(loaded, protocol.decision_payload(request))
        return protocol.interpret_decision(completion, request, self._name), completion.usage

    async def _server(self) -> server.LoadedServer:
        if self._loaded is None:
            await asyncio.to_thread(self.prepare)
        assert self._loaded is not None
        return self._loaded

    def __repr__(self) -> str:
        return f"LocalModel({self._name!r}, path={str(self.path)!r})"


def _resolve(source: str | os.PathLike[str]) -> tuple[ModelAsset | Path, str]:
    """(catalog asset or file path, display name) for an alias or a .gguf path."""
    text = os.fspath(source)
    if not text.lower().endswith(".gguf"):
        asset = find_asset(text)  # UnknownModelError lists the aliases
        return asset, asset.alias
    path = Path(text).expanduser()
    if not path.is_file():
        raise ModelAssetError(
            f"no model file at {path}; give the path to an existing .gguf file, "
            f"or use a catalog alias such as 'local:{DEFAULT_ALIAS}'"
        )
    return path.resolve(), path.stem
