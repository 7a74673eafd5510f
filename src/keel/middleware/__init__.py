"""Middleware: the seam where layers decide (see `keel.middleware.base` for the rules),
and the built-in middleware that use it: `TrimHistory` and `DenyTools`."""

from keel.middleware.base import (
    DecisionKind,
    Middleware,
    ModelCall,
    ModelHandler,
    NoteDecision,
    Respond,
    SuspendRun,
    ToolCall,
    ToolHandler,
)
from keel.middleware.deny import DenyTools
from keel.middleware.trim import TrimHistory

__all__ = [
    "DecisionKind",
    "DenyTools",
    "Middleware",
    "ModelCall",
    "ModelHandler",
    "NoteDecision",
    "Respond",
    "SuspendRun",
    "ToolCall",
    "ToolHandler",
    "TrimHistory",
]
