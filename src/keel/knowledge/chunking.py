"""Structure-aware chunking: sections by heading, then paragraphs packed to a size, with
overlap between neighbouring chunks of a section.

Each chunk records the heading path it sits under ("Refunds > Card payments"), which
becomes its citation. A paragraph longer than a chunk is split at sentence ends (or, for
text without any, at spaces). Overlap repeats the tail of the previous chunk — whole
sentences, up to `overlap` characters — so a fact spanning a boundary is found from
either side.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

__all__ = ["TextChunk", "chunk_text", "fit_window"]

Counter = Callable[[Sequence[str]], list[int]]
"""Tokens of each text, uncut (an embedder's `text_tokens`)."""

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+")  # and CJK full stops
_AFTER_SENTENCE = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])(?=\s)")
_AFTER_WORD = re.compile(r"(?<=\S)(?=\s)")


@dataclass(frozen=True, slots=True)
class TextChunk:
    heading: str
    text: str


def chunk_text(
    text: str, *, kind: str = "markdown", max_chars: int = 1_200, overlap: int = 200
) -> list[TextChunk]:
    chunks: list[TextChunk] = []
    for heading, body in _sections(text, markdown=kind == "markdown"):
        size = max(max_chars - overlap, max_chars // 2)  # room for the overlap
        pieces = [p for para in _paragraphs(body) for p in _split_long(para, size)]
        chunks.extend(TextChunk(heading, t) for t in _pack(pieces, max_chars, overlap))
    return chunks


def _sections(text: str, *, markdown: bool) -> Iterator[tuple[str, str]]:
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = _HEADING.match(line) if markdown and not in_code else None
        if match is None:
            lines.append(line)
            continue
        yield _path(path), "\n".join(lines)
        level = len(match[1])
        path = [*(p for p in path if p[0] < level), (level, match[2])]
        lines = []
    yield _path(path), "\n".join(lines)


def _path(path: list[tuple[int, str]]) -> str:
    return " > ".join(title for _, title in path)


def _paragraphs(body: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]


def _split_long(paragraph: str, max_chars: int) -> list[str]:
    if len(paragraph) <= max_chars:
        return [paragraph]
    units = _SENTENCE_END.split(paragraph)
    if len(units) == 1:
        units = paragraph.split(" ")
    out: list[str] = []
    current = ""
    for whole in units:
        unit = whole
        while len(unit) > max_chars:  # one unbroken run of characters
            out, current = [*out, *([current] if current else []), unit[:max_chars]], ""
            unit = unit[max_chars:]
        if current and len(current) + 1 + len(unit) > max_chars:
            out.append(current)
            current = ""
        current = f"{current} {unit}" if current else unit
    return [*out, current] if current else out


def _pack(pieces: list[str], max_chars: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    for piece in pieces:
        if current and len("\n\n".join([*current, piece])) > max_chars:
            chunks.append("\n\n".join(current))
            current = _tail(current[-1], overlap)
            if current and len(current[0]) + 2 + len(piece) > max_chars:
                current = []
        current.append(piece)
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def _tail(text: str, overlap: int) -> list[str]:
    """The last whole sentences of `text`, at most `overlap` characters."""
    if overlap <= 0:
        return []
    kept = ""
    for sentence in reversed(_SENTENCE_END.split(text)):
        candidate = f"{sentence} {kept}".strip()
        if len(candidate) > overlap:
            break
        kept = candidate
    return [kept] if kept else []


def fit_window(chunks: list[TextChunk], window: int, count: Counter) -> list[TextChunk]:
    """Chunks whose heading and text exceed `window` tokens cut at sentence ends (at
    spaces within a sentence too long), each part as large as fits. Counts come from one
    call per chunk cut; pieces joined by whitespace count as the sum of their tokens."""
    sizes = count([f"{c.heading}\n{c.text}" if c.heading else c.text for c in chunks])
    out: list[TextChunk] = []
    for chunk, size in zip(chunks, sizes, strict=True):
        if size <= window:
            out.append(chunk)
            continue
        budget = max(window - count([chunk.heading])[0], window // 2)
        out.extend(TextChunk(chunk.heading, t) for t in _cut(chunk.text, budget, count))
    return out


def _cut(text: str, budget: int, count: Counter) -> list[str]:
    units = _units(text, budget, count)
    parts: list[str] = []
    current, used = "", 0
    for unit, size in units:
        if current and used + size > budget:
            parts.append(current.strip())
            current, used = "", 0
        current, used = current + unit, used + size
    return [p for p in [*parts, current.strip()] if p]


def _units(text: str, budget: int, count: Counter) -> list[tuple[str, int]]:
    """Sentences with their token counts (with the whitespace after them, so joining
    them gives `text` back); a sentence over `budget` as words, a word over it halved."""
    sentences = [s for s in _AFTER_SENTENCE.split(text) if s]
    out: list[tuple[str, int]] = []
    for sentence, size in zip(sentences, count(sentences), strict=True):
        if size <= budget:
            out.append((sentence, size))
        elif len(words := [w for w in _AFTER_WORD.split(sentence) if w]) > 1:
            out.extend(_units_of_words(words, budget, count))
        else:
            half = len(sentence) // 2
            out.extend(_units(sentence[:half], budget, count))
            out.extend(_units(sentence[half:], budget, count))
    return out


def _units_of_words(words: list[str], budget: int, count: Counter) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for word, size in zip(words, count(words), strict=True):
        out.extend(_units(word, budget, count) if size > budget else [(word, size)])
    return out
