"""Every escalation trigger, the human queue, and a handed-off session."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from keel import Agent, App, RunContext, tool
from keel.handoffs.human import (
    RETRIEVAL_SCORE_KEY,
    EscalationPolicy,
    HandoffConflictError,
    HandoffItem,
    HumanHandoff,
    HumanQueue,
)
from keel.handoffs.human.triggers import all_caps, angry, asks_for_person, policy_topic, rephrasing
from keel.observability import Telemetry, Tracing
from keel.testing import ScriptedModel, tool_call

POLICY = EscalationPolicy()
CALM = [
    "where is my order A1001",
    "Can I return the shoes I bought last week?",
    "Is the rain jacket waterproof?",
    "I need an invoice for order A1002 please",
]


@pytest.mark.parametrize("text", CALM)
def test_calm_messages_fire_no_text_trigger(text: str) -> None:
    assert not asks_for_person(text) and not angry(text, POLICY)
    assert not all_caps(text, POLICY) and policy_topic(text, POLICY) is None


@pytest.mark.parametrize(
    "text",
    ["Can I talk to a human?", "let me speak to a real person", "put me through to an agent"],
)
def test_explicit_requests_for_a_person(text: str) -> None:
    assert asks_for_person(text)


def test_anger_caps_policy_and_rephrasing() -> None:
    assert angry("this is ridiculous, your service is useless", POLICY)
    assert all_caps("WHERE IS MY ORDER I PAID TWO WEEKS AGO", POLICY)
    assert not all_caps("OK", POLICY)  # too short to be shouting
    assert policy_topic("I will contact my lawyer about this", POLICY) == "legal"
    assert policy_topic("the charger caught fire", POLICY) == "safety"
    earlier = ["where is my order", "where's my order??"]
    assert rephrasing("where is my order now", earlier, POLICY)
    assert not rephrasing("where is my order now", earlier[:1], POLICY)  # asked twice, not 3x


def _app(tmp_path: Path, *agents: Agent[Any], policy: EscalationPolicy = POLICY) -> App:
    return App(
        agents=list(agents),
        database=tmp_path / "k.db",
        middleware=[HumanHandoff(policy)],
    )


def _queue(app: App) -> HumanQueue:
    return HumanQueue(app.session_store.db)  # type: ignore[attr-defined]


async def test_a_text_trigger_hands_off_before_the_model_is_called(tmp_path: Path) -> None:
    model = ScriptedModel(["Your order shipped."])
    app = _app(tmp_path, Agent(name="desk", model=model))
    first = await app.runner.run(app.agent(), "where is my order A1001", session_id="s1")
    assert first.output == "Your order shipped."
    angry_turn = await app.runner.run(
        app.agent(), "THIS IS USELESS, I WANT A HUMAN", session_id="s1"
    )
    assert "member of our team" in str(angry_turn.output)
    assert len(model.requests) == 1  # the model was not asked again
    [item] = _queue(app).list()
    assert item.trigger == "explicit_request" and item.session_id == "s1"
    assert [line["text"] for line in item.transcript if line["role"] == "user"] == [
        "where is my order A1001",
        "THIS IS USELESS, I WANT A HUMAN",
    ]
    assert "where is my order A1001" in item.summary and item.run_id == angry_turn.run_id


async def test_a_handed_off_session_goes_to_the_queue_until_handed_back(tmp_path: Path) -> None:
    model = ScriptedModel(["Back with the agents."])
    app = _app(tmp_path, Agent(name="desk", model=model))
    await app.runner.run(app.agent(), "I will call my lawyer", session_id="s1")
    queue = _queue(app)
    [item] = queue.list()
    assert item.trigger == "policy_topic"
    waiting = await app.runner.run(app.agent(), "hello? anyone?", session_id="s1")
    assert "will reply here shortly" in str(waiting.output) and model.requests == []
    assert [m["text"] for m in queue.get(item.id).messages] == ["hello? anyone?"]
    queue.claim(item.id, "sam")
    queue.hand_back(item.id, "sam")
    back = await app.runner.run(app.agent(), "thanks, one more question", session_id="s1")
    assert back.output == "Back with the agents."


async def test_repeated_rephrasing_escalates_on_the_third_ask(tmp_path: Path) -> None:
    model = ScriptedModel(["Let me check.", "Still checking."])
    app = _app(tmp_path, Agent(name="desk", model=model))
    for text in ["where is my order", "where's my order?"]:
        await app.runner.run(app.agent(), text, session_id="s1")
    assert _queue(app).list() == []
    await app.runner.run(app.agent(), "where is my order??", session_id="s1")
    [item] = _queue(app).list()
    assert item.trigger == "frustration" and "same thing" in item.reason


@tool
def flaky(order_id: str) -> str:
    """Look something up."""
    raise ConnectionError("backend down")


async def test_repeated_tool_failures_escalate_with_the_trace_id(tmp_path: Path) -> None:
    calls = [tool_call("flaky", {"order_id": "A1"}), tool_call("flaky", {"order_id": "A1"})]
    model = ScriptedModel([*calls, "never said"])
    tracing = Tracing(Telemetry())
    app = App(
        agents=[Agent(name="desk", model=model, tools=[flaky])],
        database=tmp_path / "k.db",
        middleware=[tracing, HumanHandoff()],
    )
    result = await app.runner.run(app.agent(), "check A1", session_id="s1")
    assert "member of our team" in str(result.output) and len(model.requests) == 2
    [item] = _queue(app).list()
    assert item.trigger == "tool_failures"
    assert item.trace_id is not None and len(item.trace_id) == 32
    assert sum("failed:" in line["text"] for line in item.transcript) == 2


@tool
def search_docs(question: str, ctx: RunContext) -> str:
    """Search the documentation."""
    ctx.metadata[RETRIEVAL_SCORE_KEY] = 0.12
    return "nothing relevant"


async def test_a_retrieval_under_the_floor_escalates(tmp_path: Path) -> None:
    model = ScriptedModel([tool_call("search_docs", {"question": "x"}), "never said"])
    app = _app(tmp_path, Agent(name="desk", model=model, tools=[search_docs]))
    await app.runner.run(app.agent(), "does the lamp work on mars", session_id="s1")
    [item] = _queue(app).list()
    assert item.trigger == "low_retrieval" and "0.12" in item.reason


class Answer(BaseModel):
    answer: str
    confidence: float


async def test_the_models_own_uncertainty_in_a_schema_field_escalates(tmp_path: Path) -> None:
    model = ScriptedModel(['{"answer": "maybe next week?", "confidence": 0.2}'])
    app = _app(tmp_path, Agent(name="desk", model=model, output_type=Answer))
    result = await app.runner.run(app.agent(), "when is the restock", session_id="s1")
    assert result.output.confidence == 0.2
    [item] = _queue(app).list()
    assert item.trigger == "model_uncertain"
    sure = ScriptedModel(['{"answer": "Tuesday", "confidence": 0.9}'])
    other = _app(tmp_path / "b", Agent(name="desk", model=sure, output_type=Answer))
    await other.runner.run(other.agent(), "when is the restock", session_id="s1")
    assert _queue(other).list() == []


def _item(session: str) -> HandoffItem:
    return HandoffItem(
        id=f"h-{session}", session_id=session, trigger="t", reason="r", summary="s", transcript=[]
    )


def _race(action: object, count: int = 8) -> list[object]:
    outcomes: list[object] = []

    def attempt() -> None:
        try:
            outcomes.append(action())  # type: ignore[operator]
        except HandoffConflictError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_duplicate_claims_and_hand_backs_take_effect_exactly_once(tmp_path: Path) -> None:
    app = _app(tmp_path, Agent(name="desk", model="test:x"))
    queue = _queue(app)
    item = queue.open(_item("s1"))
    claims = _race(lambda: queue.claim(item.id, "sam"))
    assert sum(isinstance(o, HandoffItem) for o in claims) == 1
    backs = _race(lambda: queue.hand_back(item.id, "sam"))
    assert sum(isinstance(o, HandoffItem) for o in backs) == 1
    assert queue.get(item.id).status == "returned"


def test_a_session_has_one_active_item(tmp_path: Path) -> None:
    queue = _queue(_app(tmp_path, Agent(name="desk", model="test:x")))
    first = queue.open(_item("s1"))
    second = HandoffItem(
        id="other", session_id="s1", trigger="t", reason="r", summary="s", transcript=[]
    )
    assert queue.open(second).id == first.id
    assert [i.id for i in queue.list()] == [first.id]
