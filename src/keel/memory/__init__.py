"""Memory: what an agent remembers.

Sessions (conversation history); the context built from them for each model call —
`SessionWindow` (recent turns within a token budget plus a running summary) and
`Instructions` (system text computed from the run's context).

Only the session protocol loads with `import keel`; the rest loads on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from keel.memory.session import InMemorySessionStore, SessionStore, check_session_id

if TYPE_CHECKING:
    from keel.memory.instructions import Instructions, InstructionsFn
    from keel.memory.summary import (
        InMemorySummaryStore,
        ModelSummarizer,
        SQLiteSummaryStore,
        Summarizer,
        SummaryStore,
    )
    from keel.memory.window import SessionWindow

__all__ = [
    "InMemorySessionStore",
    "InMemorySummaryStore",
    "Instructions",
    "InstructionsFn",
    "ModelSummarizer",
    "SQLiteSummaryStore",
    "SessionStore",
    "SessionWindow",
    "Summarizer",
    "SummaryStore",
    "check_session_id",
]

_LAZY = {
    "Instructions": "keel.memory.instructions",
    "InstructionsFn": "keel.memory.instructions",
    "InMemorySummaryStore": "keel.memory.summary",
    "ModelSummarizer": "keel.memory.summary",
    "SQLiteSummaryStore": "keel.memory.summary",
    "Summarizer": "keel.memory.summary",
    "SummaryStore": "keel.memory.summary",
    "SessionWindow": "keel.memory.window",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel.memory' has no attribute {name!r}")
    return getattr(import_module(module), name)
