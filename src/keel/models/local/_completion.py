"""llama.cpp's OpenAI-style stream chunks folded into one generation, and back to Keel.

Every generation streams internally (the per-token callback is where a cancelled caller
is noticed), so even a plain `request` is a fold over chunks. Pure functions only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from keel.exceptions import ModelError
from keel.messages import Message, ModelResponse, Usage

__all__ = [
    "Completion",
    "Payload",
    "StreamAccumulator",
    "check_error",
    "text_response",
    "usage_of",
]

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Completion:
    """One generation: its text, what it cost and why it stopped."""

    text: str
    usage: Usage
    finish_reason: str | None


def usage_of(payload: Payload) -> Usage:
    """`usage` of a chat completion (or its last stream chunk) as one request's Usage."""
    usage = _as_dict(payload.get("usage"))
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return Usage(requests=1, input_tokens=int(prompt), output_tokens=int(completion))


def text_response(
    completion: Completion, model_name: str, earlier: Usage | None = None
) -> ModelResponse:
    """A text answer; `earlier` is the usage of a decision request that preceded it."""
    usage = completion.usage if earlier is None else earlier + completion.usage
    message = Message.assistant(completion.text)
    return ModelResponse(message, usage, model_name, completion.finish_reason)


def _as_dict(value: object) -> dict[str, Any]:
    return cast("dict[str, Any]", value) if isinstance(value, dict) else {}


def check_error(payload: Payload) -> None:
    """Raise ModelError for llama.cpp's `{"error": {...}}` answers."""
    error: Any = payload.get("error")
    if error is None:
        return
    detail: Any = _as_dict(error).get("message", error)
    raise ModelError(f"the local model rejected the request: {detail}")


@dataclass(slots=True)
class StreamAccumulator:
    """Folds OpenAI-style stream chunks into a Completion; `feed` returns each new text."""

    pieces: list[str] = field(default_factory=list[str])
    usage: Usage = field(default_factory=lambda: Usage(requests=1))
    finish_reason: str | None = None

    def feed(self, chunk: Payload) -> str:
        check_error(chunk)
        if chunk.get("usage"):
            self.usage = usage_of(chunk)
        choices: Any = chunk.get("choices") or [{}]
        choice = _as_dict(choices[0])
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        text = str(_as_dict(choice.get("delta")).get("content") or "")
        if text:
            self.pieces.append(text)
        return text

    def result(self) -> Completion:
        return Completion("".join(self.pieces), self.usage, self.finish_reason)
