"""The public namespace is a promise: pinned here, and cheap to import."""

from __future__ import annotations

import json
import subprocess
import sys

import keel

EXPECTED = {
    "DEFAULT_MODEL", "Agent", "App", "AppLoadError", "ConfigurationError",
    "InMemorySessionStore", "InvalidSessionIdError", "KeelError", "LimitExceeded",
    "MaxStepsExceeded", "Message", "MissingExtraError", "Model", "ModelAssetError",
    "ModelError", "ModelRequest", "ModelRequestStarted", "ModelResponse",
    "ModelResponseReceived", "ModelSettings", "OutputValidationError", "RunContext",
    "RunError", "RunEvent", "RunFailed", "RunFinished", "RunHook", "RunLimits", "RunResult",
    "RunStarted", "Runner", "SQLiteSessionStore", "SessionError", "SessionNotFoundError",
    "SessionStore", "TextDelta", "TextPart", "Tool", "ToolCallFinished", "ToolCallPart",
    "ToolCallStarted", "ToolDefinitionError", "ToolResultPart", "UnknownModelError", "Usage",
    "UsageLimitExceeded", "__version__", "infer_model", "load_app", "register_provider", "tool",
    # the run pipeline: middleware, durable runs, identity, tools beyond functions
    "Approve", "DecisionError", "FunctionTool", "InMemoryRunStore", "Middleware",
    "MiddlewareDecision", "ModelCall", "OutputRepairRequested", "PendingAction", "Principal",
    "Reject", "Respond", "RunBlocked", "RunConflictError", "RunNotFoundError", "RunResumed",
    "RunState", "RunStateError", "RunStore", "RunSuspended", "SQLiteRunStore",
    "SchemaTool", "SessionBusyError", "ToolAnnotations", "ToolArgumentsError", "ToolCall",
    "Toolset", "TrimHistory", "DenyTools",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert set(keel.__all__) == EXPECTED
    assert len(keel.__all__) == len(EXPECTED)


def test_every_exported_name_exists() -> None:
    missing = [name for name in keel.__all__ if not hasattr(keel, name)]
    assert missing == []


def test_every_error_derives_from_the_one_root() -> None:
    errors = [getattr(keel, n) for n in keel.__all__ if n.endswith(("Error", "Exceeded"))]
    assert errors and all(issubclass(e, keel.KeelError) for e in errors)


def test_import_loads_no_model_runtime_or_provider_sdk() -> None:
    code = "import sys, json, keel; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    heavy = {"xllamacpp", "openai", "anthropic", "typer", "rich", "opentelemetry.sdk"}
    assert loaded.isdisjoint(heavy), loaded & heavy
