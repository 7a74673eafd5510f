"""The fast tier's regular expressions, on RE2 when google-re2 is installed, else on `re`.

Why: Python's `re` backtracks from every position, so each of the fast tier's patterns
cost 70-170 µs over a 2,000-character message and a message whose words triggered four
or five of them went past the 0.5 ms target. RE2 runs a DFA: a `Set` of all the signal
patterns answers "which of them match anywhere?" in one pass (~17 µs on the same
message); only the strongest signal's pattern is searched again, for its place (~10 µs).
google-re2 is a 0.6 MB wheel in the `security` extra; without it the same patterns run
on `re` behind substring triggers (the fast tier's earlier path, ~2x slower). The
patterns are written in the subset both engines read alike. RE2's `\\b` and `\\w` are
ASCII-only, so `re` compiles them with `re.ASCII`: otherwise `prompt` right before a
Japanese particle (`promptを`) ends a word for RE2 and not for `re`. A test checks both
engines score the labelled set the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

__all__ = ["HAVE_RE2", "Finder", "PatternSet", "compile_pattern"]


Finder = re.Pattern[str]
"""What `compile_pattern` returns: an `re.Pattern`, or an RE2 pattern, which offers the same
`search` / `finditer` and match `start` / `end` / `group` that the fast tier uses."""


def _re2() -> Any:
    try:
        import re2  # pyright: ignore[reportMissingTypeStubs]
    except ImportError:
        return None
    return re2


_RE2: Any = _re2()
HAVE_RE2 = _RE2 is not None


def compile_pattern(pattern: str, *, engine: str = "auto") -> Finder:
    """`pattern` compiled on RE2 where installed (`engine="re"` forces Python's `re`)."""
    if HAVE_RE2 and engine != "re":
        return cast(Finder, _RE2.compile(pattern))
    return re.compile(pattern, re.ASCII)


class PatternSet:
    """Which of several patterns match somewhere in a text: one RE2 pass, or `None`
    from `matching` where RE2 is missing (the caller then tries each pattern itself)."""

    def __init__(self, patterns: Sequence[str], *, engine: str = "auto") -> None:
        self._set: Any = None
        if HAVE_RE2 and engine != "re":
            self._set = _RE2.Set.SearchSet(_RE2.Options())
            for pattern in patterns:
                self._set.Add(pattern)
            self._set.Compile()

    def matching(self, text: str) -> list[int] | None:
        if self._set is None:
            return None
        return sorted(self._set.Match(text) or ())  # None when nothing matches
