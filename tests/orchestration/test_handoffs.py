"""Handoffs between agents: a tool outcome the loop acts on; the conversation travels,
each message records its agent, a specialist can hand back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from keel import Agent, App, Approve, ConfigurationError, Runner, SQLiteSessionStore
from keel.events import Handoff, RunEvent, RunFinished
from keel.handoffs import hand_back, handoff
from keel.messages import Message
from keel.result import RunResult
from keel.testing import ScriptedModel, tool_call
from tests.runs.support import REFUNDS, durable_runner, refund


def _final(events: list[RunEvent]) -> RunResult[Any]:
    last = events[-1]
    assert isinstance(last, RunFinished)
    return last.result


def _billing(*replies: object) -> Agent:
    return Agent(
        name="billing",
        instructions="You are billing.",
        model=ScriptedModel(list(replies)),  # type: ignore[arg-type]
        tools=[refund, hand_back()],
    )


def _triage(billing: Agent, *replies: object) -> Agent:
    return Agent(
        name="triage",
        instructions="You are triage.",
        model=ScriptedModel(list(replies)),  # type: ignore[arg-type]
        tools=[handoff(billing, description="Billing questions and refunds.")],
    )


async def test_the_conversation_travels_to_the_specialist_who_answers() -> None:
    billing = _billing("Your invoice is attached.")
    triage = _triage(billing, tool_call("transfer_to_billing", {"reason": "invoice"}))
    events: list[RunEvent] = [e async for e in Runner().stream(triage, "I need my invoice")]
    [moved] = [e for e in events if isinstance(e, Handoff)]
    assert (moved.from_agent, moved.to_agent, moved.reason) == ("triage", "billing", "invoice")
    result = _final(events)
    assert result.output == "Your invoice is attached."
    assert result.agent_name == "billing"
    # billing's model saw its own instructions and the whole conversation so far
    request = billing.model.requests[0]  # type: ignore[union-attr]
    assert request.messages[0].text == "You are billing."
    assert request.messages[1].text == "I need my invoice"
    assert [m.agent for m in result.new_messages if m.role == "assistant"] == ["triage", "billing"]


async def test_a_specialist_hands_back_and_the_first_agent_finishes() -> None:
    billing = _billing(tool_call("hand_back", {"reason": "not billing"}))
    triage = _triage(
        billing, tool_call("transfer_to_billing", {}), "Let me help with your delivery instead."
    )
    events = [e async for e in Runner().stream(triage, "where is my parcel")]
    moves = [(e.from_agent, e.to_agent, e.back) for e in events if isinstance(e, Handoff)]
    assert moves == [("triage", "billing", False), ("billing", "triage", True)]
    result = _final(events)
    assert result.agent_name == "triage"
    assert result.output == "Let me help with your delivery instead."


async def test_hand_back_with_nobody_to_return_to_is_told_to_the_model() -> None:
    billing = _billing(tool_call("hand_back", {}), "ok, I'll answer")
    result = await Runner().run(billing, "hi")
    assert result.output == "ok, I'll answer"
    assert "no agent to hand back to" in result.new_messages[2].parts[0].content  # type: ignore[union-attr]


async def test_a_resumed_run_continues_with_the_agent_that_holds_the_conversation(
    tmp_path: Path,
) -> None:
    billing = _billing(tool_call("refund", {"order_id": "A7"}), "Refunded A7.")
    triage = _triage(billing, tool_call("transfer_to_billing", {"reason": "refund"}))
    runner = durable_runner(tmp_path / "k.db", triage, billing)
    first = await runner.run(triage, "refund A7", session_id="s1")
    assert first.status == "suspended" and first.agent_name == "billing"
    # a fresh runner (another process) knows the agents through its app
    other = durable_runner(tmp_path / "k.db", triage, billing)
    done = await other.resume(first.run_id, decisions={first.pending[0].id: Approve()})
    assert done.output == "Refunded A7." and REFUNDS == ["A7"]
    stored = await SQLiteSessionStore(tmp_path / "k.db").load("s1")
    assert [m.agent for m in stored if m.role == "assistant"] == ["triage", "billing", "billing"]


def test_an_unknown_handoff_target_fails_at_app_load() -> None:
    triage = Agent(name="triage", model="test:x", tools=[handoff("billling")])
    with pytest.raises(ConfigurationError, match="billling"):
        App(agents=[triage])


def test_messages_stored_before_agents_were_recorded_still_load(tmp_path: Path) -> None:
    store = SQLiteSessionStore(tmp_path / "k.db")
    import asyncio

    asyncio.run(store.append("s1", [Message.user("hi")]))
    old_row = json.dumps({"role": "assistant", "parts": [{"kind": "text", "text": "hello"}]})
    with sqlite3.connect(tmp_path / "k.db") as conn:
        conn.execute("UPDATE session_messages SET message = ? WHERE seq = 1", (old_row,))
    [message] = asyncio.run(store.load("s1"))
    assert message == Message.assistant("hello") and message.agent is None
