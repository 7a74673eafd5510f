"""Memory: what an agent remembers.

Sessions (conversation history); the context built from them for each model call —
`SessionWindow` (recent turns within a token budget plus a running summary) and
`Instructions` (system text computed from the run's context); `UserMemory` (facts and
preferences about a user, `remember_tool`, `RecallMemory`, and `ExtractFacts`, which
saves them from each turn); `delete_user` and
`apply_retention` (keel.memory.retention).

Only the session protocol loads with `import keel`; the rest loads on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from keel.memory.session import InMemorySessionStore, SessionStore, check_session_id

if TYPE_CHECKING:
    from keel.memory.extract import ExtractFacts, FactExtraction
    from keel.memory.instructions import Instructions, InstructionsFn
    from keel.memory.summary import (
        InMemorySummaryStore,
        ModelSummarizer,
        SQLiteSummaryStore,
        Summarizer,
        SummaryStore,
    )
    from keel.memory.user import Fact, Provenance, UserMemory
    from keel.memory.user_tools import RecallMemory, remember_tool
    from keel.memory.window import SessionWindow

__all__ = [
    "ExtractFacts",
    "Fact",
    "FactExtraction",
    "InMemorySessionStore",
    "InMemorySummaryStore",
    "Instructions",
    "InstructionsFn",
    "ModelSummarizer",
    "Provenance",
    "RecallMemory",
    "SQLiteSummaryStore",
    "SessionStore",
    "SessionWindow",
    "Summarizer",
    "SummaryStore",
    "UserMemory",
    "check_session_id",
    "remember_tool",
]

_LAZY = {
    "ExtractFacts": "keel.memory.extract",
    "FactExtraction": "keel.memory.extract",
    "Instructions": "keel.memory.instructions",
    "InstructionsFn": "keel.memory.instructions",
    "InMemorySummaryStore": "keel.memory.summary",
    "ModelSummarizer": "keel.memory.summary",
    "SQLiteSummaryStore": "keel.memory.summary",
    "Summarizer": "keel.memory.summary",
    "SummaryStore": "keel.memory.summary",
    "SessionWindow": "keel.memory.window",
    "Fact": "keel.memory.user",
    "Provenance": "keel.memory.user",
    "UserMemory": "keel.memory.user",
    "RecallMemory": "keel.memory.user_tools",
    "remember_tool": "keel.memory.user_tools",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel.memory' has no attribute {name!r}")
    return getattr(import_module(module), name)
