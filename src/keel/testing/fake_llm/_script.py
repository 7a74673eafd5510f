"""What a fake LLM server answers: replies (text, tool calls, usage) and faults."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Answer", "FakeReply", "FakeToolCall", "Fault"]


@dataclass(frozen=True, slots=True)
class FakeToolCall:
    name: str
    arguments: dict[str, Any] | str
    """A dict is sent as JSON; a string is sent as is (to send invalid arguments)."""
    id: str = ""

    @property
    def arguments_json(self) -> str:
        args = self.arguments
        return args if isinstance(args, str) else json.dumps(args)


@dataclass(frozen=True, slots=True)
class FakeReply:
    """A successful answer. `usage` is (input, output, cached input) tokens; None sends
    no usage at all (as some compatible servers do)."""

    text: str = ""
    tool_calls: tuple[FakeToolCall, ...] = ()
    usage: tuple[int, int, int] | None = (10, 5, 0)
    finish: str | None = None
    """The provider's own stop reason; default: tool calls or stop/end_turn."""
    model: str | None = None
    """The model the server says answered; default: the one asked for."""
    delay: float = 0.0
    """Seconds to wait before answering (a slow model), real time on the server."""
    chunk_words: int = 1
    """Words per streamed text chunk."""

    @classmethod
    def calling(cls, name: str, arguments: dict[str, Any] | str, **kwargs: Any) -> FakeReply:
        return cls(tool_calls=(FakeToolCall(name, arguments),), **kwargs)


FaultKind = Literal["status", "reset", "malformed", "cut_stream", "body"]


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure the server plays instead of (or, for `cut_stream`, in the middle of) an
    answer. Build with the class methods."""

    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    message: str = ""
    code: str | None = None
    after_chunks: int = 2
    reply: FakeReply = field(default_factory=FakeReply)

    @classmethod
    def http(
        cls, status: int, *, retry_after: float | None = None, message: str = "", code: str = ""
    ) -> Fault:
        """An HTTP error status with the provider's error body (429 with Retry-After…)."""
        return cls("status", status, retry_after, message, code or None)

    @classmethod
    def context_length(cls) -> Fault:
        return cls("status", 400, message="prompt is too long", code="context_length_exceeded")

    @classmethod
    def reset(cls) -> Fault:
        """The connection is reset (TCP RST) before any answer."""
        return cls("reset")

    @classmethod
    def malformed(cls) -> Fault:
        """HTTP 200 with a body that is not JSON."""
        return cls("malformed")

    @classmethod
    def body(cls, text: str) -> Fault:
        """HTTP 200 with this JSON body (one that is not an answer: `{"choices": []}`…)."""
        return cls("body", 200, message=text)

    @classmethod
    def cut_stream(cls, reply: FakeReply, *, after_chunks: int = 2) -> Fault:
        """Stream `reply` but drop the connection after `after_chunks` events; a request
        that does not stream gets a truncated JSON body."""
        return cls("cut_stream", after_chunks=after_chunks, reply=reply)


Answer = FakeReply | Fault
