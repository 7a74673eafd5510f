"""Keel: a production runtime for LLM agents.

    from keel import Agent, Runner, tool

The names below are the public API (pinned by a test); everything in a module whose
name starts with `_` is private.
"""

from keel.agent import DEFAULT_MODEL, Agent
from keel.app import App, load_app
from keel.context import RunContext
from keel.events import (
    ModelRequestStarted,
    ModelResponseReceived,
    RunEvent,
    RunFailed,
    RunFinished,
    RunHook,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from keel.exceptions import (
    AppLoadError,
    ConfigurationError,
    InvalidSessionIdError,
    KeelError,
    LimitExceeded,
    MaxStepsExceeded,
    MissingExtraError,
    ModelAssetError,
    ModelError,
    OutputValidationError,
    RunError,
    SessionError,
    SessionNotFoundError,
    ToolDefinitionError,
    UnknownModelError,
    UsageLimitExceeded,
)
from keel.limits import RunLimits
from keel.memory.session import InMemorySessionStore, SessionStore
from keel.messages import (
    Message,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from keel.models.base import Model, ModelRequest, ModelSettings
from keel.models.registry import infer_model, register_provider
from keel.result import RunResult
from keel.run import Runner
from keel.storage.sqlite_sessions import SQLiteSessionStore
from keel.tools.tool import Tool, tool

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "Agent",
    "App",
    "AppLoadError",
    "ConfigurationError",
    "InMemorySessionStore",
    "InvalidSessionIdError",
    "KeelError",
    "LimitExceeded",
    "MaxStepsExceeded",
    "Message",
    "MissingExtraError",
    "Model",
    "ModelAssetError",
    "ModelError",
    "ModelRequest",
    "ModelRequestStarted",
    "ModelResponse",
    "ModelResponseReceived",
    "ModelSettings",
    "OutputValidationError",
    "RunContext",
    "RunError",
    "RunEvent",
    "RunFailed",
    "RunFinished",
    "RunHook",
    "RunLimits",
    "RunResult",
    "RunStarted",
    "Runner",
    "SQLiteSessionStore",
    "SessionError",
    "SessionNotFoundError",
    "SessionStore",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCallFinished",
    "ToolCallPart",
    "ToolCallStarted",
    "ToolDefinitionError",
    "ToolResultPart",
    "UnknownModelError",
    "Usage",
    "UsageLimitExceeded",
    "__version__",
    "infer_model",
    "load_app",
    "register_provider",
    "tool",
]
