"""The one seam every model provider implements: `Model.request` and `Model.stream`.

A provider translates a `ModelRequest` (normalized messages, tool definitions, an optional
output schema) into its wire format and the answer back into a `ModelResponse`. The loop
never sees a wire format, and no provider name is tested outside `keel.models`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from keel.context import RunContext
from keel.messages import Message, ModelResponse

__all__ = [
    "Model",
    "ModelRequest",
    "ModelSettings",
    "ModelStreamEvent",
    "OutputSchema",
    "ProgressCallback",
    "SupportsEscalate",
    "SupportsPrepare",
    "TextDelta",
    "ToolDefinition",
]


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """What a model is told about a tool: name, description, JSON schema of arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """Asks the model to answer with JSON matching `schema` (always a JSON object)."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Sampling settings; `None` leaves the provider's default."""

    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class ModelRequest:
    messages: Sequence[Message]
    tools: Sequence[ToolDefinition] = ()
    output_schema: OutputSchema | None = None
    settings: ModelSettings = field(default_factory=ModelSettings)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of assistant text as it is generated."""

    text: str


ModelStreamEvent = TextDelta | ModelResponse
"""A stream yields text deltas and ends with exactly one `ModelResponse`."""


@runtime_checkable
class Model(Protocol):
    """A chat model. Implement both methods; `stream` ends with the full response."""

    @property
    def name(self) -> str:
        """The model's name as reported in traces, e.g. `qwen2.5-coder-0.5b`."""
        ...

    @property
    def provider(self) -> str:
        """The provider's name as reported in traces, e.g. `local`."""
        ...

    async def request(self, request: ModelRequest) -> ModelResponse: ...

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]: ...


ProgressCallback = Callable[[str, float | None], None]
"""Called with a stage description and a fraction done (None when unknown)."""


@runtime_checkable
class SupportsPrepare(Protocol):
    """A model with slow one-time setup (assembling weights, loading them into memory).

    Callers that can show progress — the CLI — call `prepare` up front; otherwise the
    first request prepares the model silently. Blocking; safe to call more than once.
    """

    def prepare(self, progress: ProgressCallback | None = None) -> None: ...


@runtime_checkable
class SupportsEscalate(Protocol):
    """A model that can move one run to a stronger model: the loop asks it when the
    run's output is still invalid after every repair (the fallback for bad output)."""

    def escalate(self, context: RunContext) -> bool:
        """Serve the rest of this run (`context`) with a stronger model; False when
        there is none left. State lives in `context.metadata`, stored with the run."""
        ...
