"""SessionWindow: a long conversation keeps what later turns need, summaries are stored
once per prefix and reused after a restart, earlier tool results are trimmed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from keel import Agent, Message, Runner, SQLiteSessionStore, ToolCallPart, ToolResultPart
from keel.exceptions import ConfigurationError
from keel.memory import Instructions, SessionWindow, SQLiteSummaryStore
from keel.memory.summary import find_facts, keep_facts
from keel.models.base import ModelRequest
from keel.principal import Principal
from keel.storage import SQLiteDatabase
from keel.testing import FunctionModel

FACTS = (
    "My order is ZX-4471 and the refund is $312.50, due on 2026-03-14. "
    "We decided to ship a replacement instead of a refund."
)


class ScriptedSummarizer:
    """Keeps only sentences saying what was decided: a lossy summarizer, so the test shows
    that ids, amounts and dates survive through `keep_facts` and decisions through it."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def summarize(self, previous: str, messages: Sequence[Message]) -> str:
        self.calls.append(len(messages))
        decided = [
            s.strip() for m in messages for s in m.text.split(". ") if "decided" in s.lower()
        ]
        summary = "\n".join([previous, *decided]).strip()
        return keep_facts(summary, [previous, "\n".join(m.text for m in messages)])


class Recorder:
    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    def __call__(self, request: ModelRequest) -> str:
        self.requests.append(request)
        return "Noted. Anything else about the weather today?"

    def seen(self) -> str:
        return "\n".join(m.text for m in self.requests[-1].messages)


def filler(turn: int) -> str:
    return f"Turn {turn}: tell me again about the weather, the sky and the wind over the sea."


async def converse(runner: Runner, agent: Agent[str], turns: range) -> None:
    for turn in turns:
        text = FACTS if turn == 3 else filler(turn)
        await runner.run(agent, text, session_id="chat", principal=Principal("ann", "acme"))


@pytest.fixture
def db(tmp_path: Path) -> SQLiteDatabase:
    return SQLiteDatabase(tmp_path / "app.db")


async def test_sixty_turns_keep_the_facts_a_later_turn_needs(db: SQLiteDatabase) -> None:
    recorder, summarizer = Recorder(), ScriptedSummarizer()
    window = SessionWindow(max_tokens=300, summarizer=summarizer, summaries=SQLiteSummaryStore(db))
    agent = Agent(
        name="support", instructions="Be brief.", model=FunctionModel(recorder), middleware=[window]
    )
    await converse(Runner(session_store=SQLiteSessionStore(db)), agent, range(1, 61))
    seen = recorder.seen()
    for fact in ("ZX-4471", "$312.50", "2026-03-14", "ship a replacement"):
        assert fact in seen
    assert "Turn 59" in seen and "Turn 10:" not in seen  # recent verbatim, old folded
    assert len(recorder.requests[-1].messages) < 30  # 119 messages were in the session
    assert recorder.requests[-1].messages[0].text.startswith("Be brief.")
    assert 2 <= len(summarizer.calls) <= 20  # folded in steps, not every turn


async def test_a_summary_is_reused_after_a_restart_not_recomputed(
    db: SQLiteDatabase, tmp_path: Path
) -> None:
    first = ScriptedSummarizer()
    window = SessionWindow(max_tokens=300, summarizer=first, summaries=SQLiteSummaryStore(db))
    agent = Agent(name="support", model=FunctionModel(Recorder()), middleware=[window])
    await converse(Runner(session_store=SQLiteSessionStore(db)), agent, range(1, 31))
    assert first.calls
    db.close()

    reopened = SQLiteDatabase(tmp_path / "app.db")  # a new process, the same file
    recorder, second = Recorder(), ScriptedSummarizer()
    window = SessionWindow(
        max_tokens=300, summarizer=second, summaries=SQLiteSummaryStore(reopened)
    )
    agent = Agent(name="support", model=FunctionModel(recorder), middleware=[window])
    await converse(Runner(session_store=SQLiteSessionStore(reopened)), agent, range(31, 32))
    assert second.calls == []  # the stored summary of the same prefix was used
    assert "ZX-4471" in recorder.seen()


async def test_the_summary_is_stored_before_the_model_call_that_fails(db: SQLiteDatabase) -> None:
    summarizer = ScriptedSummarizer()
    summaries = SQLiteSummaryStore(db)

    def dies_after_a_fold(request: ModelRequest) -> str:
        if summarizer.calls:
            raise RuntimeError("the process died here")
        return "ok"

    window = SessionWindow(max_tokens=300, summarizer=summarizer, summaries=summaries)
    agent = Agent(name="support", model=FunctionModel(dies_after_a_fold), middleware=[window])
    runner = Runner(session_store=SQLiteSessionStore(db))
    with pytest.raises(RuntimeError, match="died"):
        await converse(runner, agent, range(1, 40))
    assert len(summarizer.calls) == 1
    with db.reading() as conn:
        (stored,) = conn.execute("SELECT count(*) FROM memory_summaries").fetchone()
    assert stored == 1  # written before the model call that failed

    again = ScriptedSummarizer()  # the retried turn, in a fresh process
    window = SessionWindow(max_tokens=300, summarizer=again, summaries=SQLiteSummaryStore(db))
    agent = Agent(name="support", model=FunctionModel(Recorder()), middleware=[window])
    await converse(runner, agent, range(40, 41))
    assert again.calls == []


async def test_earlier_tool_results_are_trimmed_with_a_note_current_ones_are_not() -> None:
    big = "x" * 5_000
    history = [
        Message.user("look it up"),
        Message.assistant(tool_calls=[ToolCallPart("lookup", {}, "c1")]),
        Message.tool_results([ToolResultPart("c1", "lookup", big)]),
        Message.assistant("found it"),
    ]
    recorder = Recorder()
    window = SessionWindow(
        max_tokens=100_000, summarizer=ScriptedSummarizer(), max_tool_result_chars=100
    )
    agent = Agent(name="a", model=FunctionModel(recorder), middleware=[window])
    store = SQLiteSessionStore(":memory:")
    await store.append("s", history)
    result = await Runner(session_store=store).run(agent, "and now?", session_id="s")
    shown = recorder.requests[-1].messages
    (tool,) = [m for m in shown if m.role == "tool"]
    content = tool.parts[0].content  # type: ignore[union-attr]
    assert content.startswith("x" * 100) and "trimmed: 4900 more characters" in content
    assert (await store.load("s"))[2] == history[2]  # the session keeps all of it
    assert result.output


async def test_instructions_are_a_function_of_the_context() -> None:
    recorder = Recorder()

    async def today(ctx: object) -> str:
        return "Today is 2026-11-22."

    agent = Agent(
        name="a",
        instructions="Be brief.",
        model=FunctionModel(recorder),
        middleware=[
            Instructions(
                lambda ctx: f"The user is {ctx.principal.user_id}.", today, lambda ctx: None
            )
        ],
    )
    await Runner().run(agent, "hi", principal=Principal("ann"))
    system = recorder.requests[-1].messages[0]
    assert system.role == "system"
    assert system.text == "Be brief.\n\nThe user is ann.\n\nToday is 2026-11-22."


def test_facts_are_found_and_carried_over() -> None:
    text = "Invoice INV-2026-001 for €40.00 was paid on March 3, 2026. Order ORD1234 shipped."
    assert find_facts(text) == ["INV-2026-001", "€40.00", "March 3, 2026", "ORD1234"]
    kept = keep_facts("The user paid.", [text])
    assert "INV-2026-001" in kept and "ORD1234" in kept and "€40.00" in kept


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_tokens": 10}, "max_tokens"),
        ({"max_tokens": 500, "keep_fraction": 1.5}, "keep_fraction"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        SessionWindow(summarizer=ScriptedSummarizer(), **kwargs)  # type: ignore[arg-type]
