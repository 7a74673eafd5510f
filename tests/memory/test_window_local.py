"""The window's default summarizer — the real local model — keeps the facts a later turn
needs across a 60-turn conversation (the answering model is scripted; only summaries are
written by the local model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel import Agent, Runner, SQLiteSessionStore
from keel.memory import ModelSummarizer, SessionWindow, SQLiteSummaryStore
from keel.principal import Principal
from keel.storage import SQLiteDatabase
from keel.testing import FunctionModel
from tests.memory.test_window import FACTS, Recorder, filler

pytestmark = pytest.mark.local_model


async def test_local_model_summaries_keep_ids_amounts_and_dates(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "app.db")
    recorder = Recorder()
    window = SessionWindow(
        max_tokens=2_000,
        summarizer=ModelSummarizer(max_tokens=160),
        summaries=SQLiteSummaryStore(db),
    )
    agent = Agent(name="support", model=FunctionModel(recorder), middleware=[window])
    runner = Runner(session_store=SQLiteSessionStore(db))
    for turn in range(1, 61):
        text = FACTS if turn == 3 else filler(turn)
        await runner.run(agent, text, session_id="chat", principal=Principal("ann"))
    seen = recorder.seen()
    verbatim = [m.text for m in recorder.requests[-1].messages if m.role == "user"]
    assert not any("Turn 5:" in text for text in verbatim)  # folded into the summary
    for fact in ("ZX-4471", "$312.50", "2026-03-14"):
        assert fact in seen
    with db.reading() as conn:
        (summaries,) = conn.execute("SELECT count(*) FROM memory_summaries").fetchone()
    assert summaries >= 1
