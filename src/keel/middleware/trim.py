"""`TrimHistory`: the model sees the recent part of a long conversation; the session
keeps all of it (a transformed request is a view, never the record).

The cut falls only at a user message, so a tool call is never separated from its result
(providers reject a tool result whose call they were not shown) and the current run's
own messages are always kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from keel.exceptions import ConfigurationError
from keel.messages import Message, ModelResponse
from keel.middleware.base import Middleware, ModelCall, ModelHandler

__all__ = ["TrimHistory"]


class TrimHistory(Middleware):
    """Send at most about `max_messages` earlier messages (system messages always stay)."""

    def __init__(self, max_messages: int) -> None:
        if max_messages < 1:
            raise ConfigurationError(f"max_messages must be at least 1, got {max_messages}")
        self.max_messages = max_messages

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        messages = call.request.messages
        kept = trim(messages, self.max_messages)
        if len(kept) == len(messages):
            return await call_next(call)
        call.note("transform", f"history trimmed from {len(messages)} to {len(kept)} messages")
        return await call_next(replace(call, request=replace(call.request, messages=kept)))


def trim(messages: Sequence[Message], max_messages: int) -> list[Message]:
    system = [m for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    start = max(len(rest) - max_messages, 0)
    while start > 0 and rest[start].role != "user":
        start -= 1  # widen to a turn boundary rather than split a tool exchange
    return system + rest[start:]
