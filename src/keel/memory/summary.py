"""Running summaries of the older part of a conversation, and where they are kept.

A summary is keyed by (tenant, session, agent, folded): it covers the session's first
`folded` messages, and records a hash of the last of them, so a session cleared and
started again never reuses a summary of the old one. Summaries are written as soon as
they are made (before the model call that uses them), so a crash loses none, and a
prefix once summarised is never summarised again — the next fold starts from it.

`ModelSummarizer` asks a model (the local one by default) to fold messages into the
summary. Small models drop details, so whatever looks like an id, an amount or a date in
the folded text and is missing from the model's summary is carried over verbatim, with
the sentence it stood in (`keep_facts`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from keel.memory.tokens import message_text
from keel.messages import Message, message_to_json
from keel.models.base import Model, ModelRequest, ModelSettings
from keel.models.registry import infer_model
from keel.storage.sqlite import SQLiteDatabase

__all__ = [
    "InMemorySummaryStore",
    "ModelSummarizer",
    "SQLiteSummaryStore",
    "StoredSummary",
    "Summarizer",
    "SummaryKey",
    "SummaryStore",
    "find_facts",
    "keep_facts",
    "message_hash",
]


@dataclass(frozen=True, slots=True)
class SummaryKey:
    tenant_id: str
    session_id: str
    agent_name: str


@dataclass(frozen=True, slots=True)
class StoredSummary:
    folded: int
    """How many of the session's first messages it covers."""
    last_hash: str
    """`message_hash` of the last message it covers."""
    text: str


def message_hash(message: Message) -> str:
    return hashlib.sha256(message_to_json(message).encode()).hexdigest()[:32]


@runtime_checkable
class SummaryStore(Protocol):
    async def latest(self, key: SummaryKey, *, at_most: int) -> list[StoredSummary]:
        """Summaries covering at most `at_most` messages, the longest first."""
        ...

    async def put(
        self, key: SummaryKey, summary: StoredSummary, *, user_id: str | None
    ) -> None: ...


class InMemorySummaryStore:
    """Summaries in a dict: for tests and runs without a database."""

    def __init__(self) -> None:
        self._rows: dict[SummaryKey, dict[int, StoredSummary]] = {}

    async def latest(self, key: SummaryKey, *, at_most: int) -> list[StoredSummary]:
        rows = self._rows.get(key, {})
        return [rows[n] for n in sorted(rows, reverse=True) if n <= at_most]

    async def put(self, key: SummaryKey, summary: StoredSummary, *, user_id: str | None) -> None:
        self._rows.setdefault(key, {})[summary.folded] = summary


LATEST = (
    "SELECT folded, last_hash, summary FROM memory_summaries WHERE tenant_id = ? "
    "AND session_id = ? AND agent_name = ? AND folded <= ? ORDER BY folded DESC LIMIT 8"
)
PUT = (
    "INSERT INTO memory_summaries (tenant_id, session_id, agent_name, folded, last_hash, "
    "user_id, summary, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
    "(tenant_id, session_id, agent_name, folded) DO UPDATE SET last_hash = excluded.last_hash, "
    "user_id = excluded.user_id, summary = excluded.summary, created_at = excluded.created_at"
)
"""The summary stores' SQL, for SQLite and (placeholders as `%s`) PostgreSQL alike."""


def latest_params(key: SummaryKey, at_most: int) -> tuple[object, ...]:
    return (key.tenant_id, key.session_id, key.agent_name, at_most)


def put_params(key: SummaryKey, summary: StoredSummary, user_id: str | None) -> tuple[object, ...]:
    return (key.tenant_id, key.session_id, key.agent_name, summary.folded, summary.last_hash,
            user_id, summary.text, time.time())  # fmt: skip


def stored(rows: Sequence[Sequence[object]]) -> list[StoredSummary]:
    return [StoredSummary(int(f), str(h), str(s)) for f, h, s in rows]  # type: ignore[call-overload]


class SQLiteSummaryStore:
    """Summaries in the app's SQLite database (table `memory_summaries`)."""

    def __init__(self, database: SQLiteDatabase) -> None:
        self.db = database

    async def latest(self, key: SummaryKey, *, at_most: int) -> list[StoredSummary]:
        with self.db.reading() as conn:
            return stored(conn.execute(LATEST, latest_params(key, at_most)).fetchall())

    async def put(self, key: SummaryKey, summary: StoredSummary, *, user_id: str | None) -> None:
        with self.db.transaction() as conn:
            conn.execute(PUT, put_params(key, summary, user_id))


@runtime_checkable
class Summarizer(Protocol):
    async def summarize(self, previous: str, messages: Sequence[Message]) -> str:
        """The summary `previous` extended with `messages`."""
        ...


SUMMARY_PROMPT = (
    "You keep a running summary of a conversation between a user and an assistant, so the "
    "assistant can continue it without the older messages. Rewrite the summary so it also "
    "covers the new messages. Keep every id, order or ticket number, amount, date, name and "
    "decision exactly as written. Write short bullet points, nothing else."
)


class ModelSummarizer:
    """Summarizes with a model: the local default unless another is named."""

    def __init__(self, model: str | Model = "local:qwen2.5-coder-0.5b", *, max_tokens: int = 256):
        self.model = model
        self.max_tokens = max_tokens

    async def summarize(self, previous: str, messages: Sequence[Message]) -> str:
        transcript = "\n".join(f"{m.role}: {message_text(m)}" for m in messages)
        prompt = f"Summary so far:\n{previous or '(none)'}\n\nNew messages:\n{transcript}"
        request = ModelRequest(
            messages=[Message.system(SUMMARY_PROMPT), Message.user(prompt)],
            settings=ModelSettings(temperature=0.0, max_tokens=self.max_tokens),
        )
        response = await infer_model(self.model).request(request)
        return keep_facts(response.message.text.strip(), [previous, transcript])


_FACT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b"  # ISO dates
    r"|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
    r"|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}(?:, \d{4})?"
    r"|[$€£]\s?\d[\d,]*(?:\.\d+)?"  # amounts
    r"|\b\d[\d,]*(?:\.\d+)? ?(?:USD|EUR|GBP|dollars|euros)\b"
    r"|\b(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Z])[A-Z0-9][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+\b"
    r"|\b[A-Z]{2,}\d{2,}\b"  # ids: ZX-4471, ORD1234, INV-2026-001
)


def find_facts(text: str) -> list[str]:
    """Ids, amounts and dates in `text`, in order, each once."""
    return list(dict.fromkeys(m.group(0).strip() for m in _FACT.finditer(text)))


def keep_facts(summary: str, sources: Sequence[str]) -> str:
    """`summary`, plus the sentence around each fact of `sources` it lost."""
    kept: list[str] = []
    for source in sources:
        for fact in find_facts(source):
            if fact in summary or any(fact in line for line in kept):
                continue
            kept.append(_sentence_with(source, fact))
    if not kept:
        return summary
    lines = "\n".join(f"- {line}" for line in dict.fromkeys(kept))
    return f"{summary}\n{lines}".strip()


def _sentence_with(text: str, fact: str) -> str:
    at = text.index(fact)
    start = max(text.rfind("\n", 0, at) + 1, text.rfind(". ", 0, at) + 1)
    end = min((i for i in (text.find("\n", at), text.find(". ", at)) if i != -1), default=-1)
    sentence = text[start : end if end != -1 else len(text)].strip()
    return sentence if len(sentence) <= 240 else sentence[:237] + "..."
