"""Models: the `Model` protocol, model strings, and the providers that implement them."""

from keel.models.base import (
    Model,
    ModelRequest,
    ModelSettings,
    ModelStreamEvent,
    OutputSchema,
    TextDelta,
    ToolDefinition,
)
from keel.models.registry import infer_model, known_providers, register_provider

__all__ = [
    "Model",
    "ModelRequest",
    "ModelSettings",
    "ModelStreamEvent",
    "OutputSchema",
    "TextDelta",
    "ToolDefinition",
    "infer_model",
    "known_providers",
    "register_provider",
]
