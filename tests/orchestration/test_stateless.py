"""Stateless mode: the caller brings the conversation; nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel import Agent, Message, RunError
from keel.testing import ScriptedModel, tool_call
from keel.workflows import run_stateless
from tests.runs.support import refund


async def test_the_model_sees_the_callers_conversation_and_nothing_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_HOME", str(tmp_path))
    model = ScriptedModel(["It was A1001."])
    agent = Agent(name="desk", model=model)
    conversation = [
        Message.user("my order is A1001"),
        Message.assistant("Thanks, noted."),
        Message.user("which order did I mention?"),
    ]
    result = await run_stateless(agent, conversation)
    assert result.output == "It was A1001."
    assert [m.text for m in model.requests[0].messages] == [m.text for m in conversation]
    assert [m.text for m in result.new_messages[len(conversation) :]] == ["It was A1001."]
    assert list(tmp_path.iterdir()) == []  # no database was even created


async def test_a_stateless_run_cannot_wait_for_approval() -> None:
    agent = Agent(name="billing", model=ScriptedModel([tool_call("refund", {"order_id": "A1"})]),
                  tools=[refund])  # fmt: skip
    with pytest.raises(RunError, match="cannot wait"):
        await run_stateless(agent, [Message.user("refund A1")])
    with pytest.raises(ValueError, match="user message"):
        await run_stateless(agent, [])
