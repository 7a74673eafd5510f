"""PII and secrets: find them, replace them with typed placeholders.

    >>> from keel.guardrails.pii import scrub
    >>> scrub("Mail jane@example.com or call +44 20 7946 0958")
    'Mail [EMAIL] or call [PHONE]'

`scrub` is what traces, logs and the audit trail use: cheap (regular expressions and
checksums, no model), safe on any string (bounded input, never raises on content).
`find_pii` returns the matches with their spans, for redaction that must be reversed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from keel.guardrails.pii.detectors import DETECTORS, PiiKind

__all__ = ["PII_KINDS", "PiiKind", "PiiMatch", "find_pii", "scrub"]

PII_KINDS: tuple[PiiKind, ...] = tuple(dict.fromkeys(d.kind for d in DETECTORS))

MAX_SCAN_CHARS = 200_000
"""Text past this is replaced by `[TRUNCATED]` in `scrub`: a bound on time, and a log
line that long is not read by a person anyway."""


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: PiiKind
    start: int
    end: int
    value: str


def find_pii(text: str, *, kinds: Collection[PiiKind] | None = None) -> list[PiiMatch]:
    """The PII in `text`, in order, without overlaps (earlier detectors win)."""
    taken: list[PiiMatch] = []
    for detector in DETECTORS:
        if kinds is not None and detector.kind not in kinds:
            continue
        for match in detector.pattern.finditer(text):
            start, end = match.span(detector.group)
            if start < 0 or start == end:
                continue
            value = match.group(detector.group)
            if detector.check is not None and not detector.check(value):
                continue
            candidate = PiiMatch(detector.kind, start, end, value)
            if not any(_overlaps(candidate, t) for t in taken):
                taken.append(candidate)
    taken.sort(key=lambda m: m.start)
    return taken


def scrub(text: str, *, kinds: Collection[PiiKind] | None = None) -> str:
    """`text` with each piece of PII replaced by its kind: `[EMAIL]`, `[CARD]`…"""
    tail = ""
    if len(text) > MAX_SCAN_CHARS:
        text, tail = text[:MAX_SCAN_CHARS], "[TRUNCATED]"
    return replace_matches(text, find_pii(text, kinds=kinds), lambda m: f"[{m.kind}]") + tail


def replace_matches(text: str, matches: list[PiiMatch], label: Callable[[PiiMatch], str]) -> str:
    parts: list[str] = []
    cursor = 0
    for match in matches:
        parts.append(text[cursor : match.start])
        parts.append(label(match))
        cursor = match.end
    parts.append(text[cursor:])
    return "".join(parts)


def _overlaps(a: PiiMatch, b: PiiMatch) -> bool:
    return a.start < b.end and b.start < a.end
