"""Test doubles for the `Model` protocol, shipped so applications can test their agents.

`ScriptedModel` answers from a queue; `FunctionModel` answers with a function of the
request; `EchoModel` repeats the user (it backs the `test:` model strings).
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from keel.messages import Message, ModelResponse, TextPart, ToolCallPart, Usage
from keel.models.base import ModelRequest, ModelStreamEvent, TextDelta

__all__ = ["EchoModel", "FunctionModel", "Reply", "ScriptedModel", "echo_provider", "tool_call"]

Reply = str | Message | ModelResponse | ToolCallPart | list[ToolCallPart]
"""What a double may answer: text, tool call(s), a whole message or a whole response."""

_call_ids = itertools.count(1)


def tool_call(
    tool_name: str, arguments: dict[str, Any] | None = None, *, call_id: str = ""
) -> ToolCallPart:
    """A tool call for a scripted reply; ids are generated when not given."""
    return ToolCallPart(tool_name, arguments or {}, call_id or f"call_{next(_call_ids)}")


def to_response(reply: Reply, model_name: str) -> ModelResponse:
    if isinstance(reply, ModelResponse):
        return reply
    if isinstance(reply, str):
        message = Message.assistant(reply)
    elif isinstance(reply, ToolCallPart):
        message = Message.assistant(tool_calls=[reply])
    elif isinstance(reply, list):
        message = Message.assistant(tool_calls=reply)
    else:
        message = reply
    return ModelResponse(message, _estimate_usage(message), model_name, "stop")


def _estimate_usage(message: Message) -> Usage:
    # A stand-in count (words) so usage limits and accounting can be exercised in tests.
    words = sum(len(p.text.split()) for p in message.parts if isinstance(p, TextPart))
    return Usage(requests=1, input_tokens=10, output_tokens=max(words, 1))


async def stream_response(response: ModelResponse) -> AsyncIterator[ModelStreamEvent]:
    """Stream a finished response word by word, then the response itself."""
    for piece in re.findall(r"\S+\s*|\s+", response.message.text):
        yield TextDelta(piece)
    yield response


class ScriptedModel:
    """Answers each request with the next reply in `replies`; records every request.

    Running out of replies raises AssertionError naming how many were used.
    """

    def __init__(
        self, replies: Iterable[Reply], *, model_name: str = "scripted", cost: float = 0.0
    ) -> None:
        self._replies = list(replies)
        self._model_name = model_name
        self._cost = cost
        """USD each answer reports, so cost accounting can be exercised in tests."""
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return self._model_name

    @property
    def provider(self) -> str:
        return "test"

    def add(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if not self._replies:
            raise AssertionError(
                f"ScriptedModel ran out of replies after {len(self.requests) - 1} request(s)"
            )
        response = to_response(self._replies.pop(0), self._model_name)
        if self._cost:
            response.usage.cost = self._cost
        return response

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        async for event in stream_response(await self.request(request)):
            yield event


ReplyFunction = Callable[[ModelRequest], Reply | Awaitable[Reply]]


class FunctionModel:
    """Answers with `function(request)`, which may be sync or async."""

    def __init__(self, function: ReplyFunction, *, model_name: str = "function") -> None:
        self._function = function
        self._model_name = model_name

    @property
    def name(self) -> str:
        return self._model_name

    @property
    def provider(self) -> str:
        return "test"

    async def request(self, request: ModelRequest) -> ModelResponse:
        reply = self._function(request)
        if inspect.isawaitable(reply):
            reply = await reply
        return to_response(reply, self._model_name)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        async for event in stream_response(await self.request(request)):
            yield event


class EchoModel(FunctionModel):
    """Replies `echo: <last user text>`; what `test:<name>` model strings build."""

    def __init__(self, *, model_name: str = "echo") -> None:
        super().__init__(self._echo, model_name=model_name)

    @staticmethod
    def _echo(request: ModelRequest) -> Reply:
        users = [m for m in request.messages if m.role == "user"]
        return f"echo: {users[-1].text}" if users else "echo:"


def echo_provider(name: str) -> EchoModel:
    """The `test:` provider: `test:<name>` is an EchoModel named `name`.

    Registered by Keel's `keel.providers` entry point (see pyproject.toml), the hook any
    package uses, so the model registry never imports this module itself.
    """
    return EchoModel(model_name=name)
