"""Keel: a production runtime for LLM agents.

    from keel import Agent, Runner, tool

The names below are the public API (pinned by a test); everything in a module whose
name starts with `_` is private.
"""

from keel.agent import DEFAULT_MODEL, Agent
from keel.app import App, load_app
from keel.context import RunContext
from keel.events import (
    MiddlewareDecision,
    ModelRequestStarted,
    ModelResponseReceived,
    OutputRepairRequested,
    RunEvent,
    RunFailed,
    RunFinished,
    RunHook,
    RunResumed,
    RunStarted,
    RunSuspended,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from keel.exceptions import (
    AppLoadError,
    ConfigurationError,
    DecisionError,
    InvalidSessionIdError,
    KeelError,
    LimitExceeded,
    MaxStepsExceeded,
    MissingExtraError,
    ModelAssetError,
    ModelError,
    OutputValidationError,
    RunBlocked,
    RunConflictError,
    RunError,
    RunNotFoundError,
    RunStateError,
    SessionBusyError,
    SessionError,
    SessionNotFoundError,
    ToolArgumentsError,
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
from keel.middleware import DenyTools, Middleware, ModelCall, Respond, ToolCall, TrimHistory
from keel.models.base import Model, ModelRequest, ModelSettings
from keel.models.registry import infer_model, register_provider
from keel.principal import Principal
from keel.result import RunResult
from keel.run import Runner
from keel.runs.pending import Approve, PendingAction, Reject
from keel.runs.state import RunState
from keel.runs.store import InMemoryRunStore, RunStore
from keel.storage.sqlite_runs import SQLiteRunStore
from keel.storage.sqlite_sessions import SQLiteSessionStore
from keel.tools.base import Tool, ToolAnnotations, Toolset
from keel.tools.schema_tool import SchemaTool
from keel.tools.tool import FunctionTool, tool

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "Agent",
    "App",
    "AppLoadError",
    "Approve",
    "ConfigurationError",
    "DecisionError",
    "DenyTools",
    "FunctionTool",
    "InMemoryRunStore",
    "InMemorySessionStore",
    "InvalidSessionIdError",
    "KeelError",
    "LimitExceeded",
    "MaxStepsExceeded",
    "Message",
    "Middleware",
    "MiddlewareDecision",
    "MissingExtraError",
    "Model",
    "ModelAssetError",
    "ModelCall",
    "ModelError",
    "ModelRequest",
    "ModelRequestStarted",
    "ModelResponse",
    "ModelResponseReceived",
    "ModelSettings",
    "OutputRepairRequested",
    "OutputValidationError",
    "PendingAction",
    "Principal",
    "Reject",
    "Respond",
    "RunBlocked",
    "RunConflictError",
    "RunContext",
    "RunError",
    "RunEvent",
    "RunFailed",
    "RunFinished",
    "RunHook",
    "RunLimits",
    "RunNotFoundError",
    "RunResult",
    "RunResumed",
    "RunStarted",
    "RunState",
    "RunStateError",
    "RunStore",
    "RunSuspended",
    "Runner",
    "SQLiteRunStore",
    "SQLiteSessionStore",
    "SchemaTool",
    "SessionBusyError",
    "SessionError",
    "SessionNotFoundError",
    "SessionStore",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolAnnotations",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallFinished",
    "ToolCallPart",
    "ToolCallStarted",
    "ToolDefinitionError",
    "ToolResultPart",
    "Toolset",
    "TrimHistory",
    "UnknownModelError",
    "Usage",
    "UsageLimitExceeded",
    "__version__",
    "infer_model",
    "load_app",
    "register_provider",
    "tool",
]
