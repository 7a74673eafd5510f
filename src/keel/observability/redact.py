"""The one door content passes through before it leaves the process: `redact`.

Prompts, completions, tool arguments and results reach spans, logs and the trace store
only when content capture is on, and only through `redact`, which calls the PII scrubber
of `keel.guardrails.pii` (`scrub(text) -> text` with typed placeholders). Where that
module is not installed, content is withheld entirely rather than exported raw.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

__all__ = ["WITHHELD", "redact"]

WITHHELD = "[content withheld: keel.guardrails.pii is not available to redact it]"


def redact(text: str) -> str:
    """`text` with PII replaced by placeholders (or withheld when no scrubber exists)."""
    scrub = _scrubber()
    return WITHHELD if scrub is None else scrub(text)


@cache
def _scrubber() -> Callable[[str], str] | None:
    try:
        from keel.guardrails.pii import scrub  # pyright: ignore[reportMissingImports, reportUnknownVariableType]
    except ImportError:
        return None
    return scrub  # pyright: ignore[reportUnknownVariableType]
