"""A reply may not claim what a tool does unless that tool ran without an error."""

from __future__ import annotations

from keel import Agent, Runner, TextDelta, tool
from keel.events import RunEvent
from keel.guardrails.claims import ToolsDone, UnbackedClaims
from keel.guardrails.middleware import Guardrails
from keel.testing import ScriptedModel, tool_call
from keel.testing.models import Reply

CLAIMS = {"refund": r"\byour refund (?:has been|was) processed"}
SORRY = "I can't confirm that."
REFUNDS: list[str] = []


@tool
async def refund(order_id: str) -> str:
    """Refund an order."""
    if order_id == "BAD":
        raise ValueError("no such order")
    REFUNDS.append(order_id)
    return f"refunded {order_id}"


def _agent(*replies: Reply) -> Agent:
    guard = Guardrails(output=[UnbackedClaims(CLAIMS)], reply=SORRY)
    return Agent(
        name="billing",
        model=ScriptedModel(list(replies)),
        tools=[refund],
        middleware=[guard, ToolsDone()],
    )


async def test_a_claim_with_no_tool_behind_it_is_replaced() -> None:
    result = await Runner().run(_agent("Your refund has been processed."), "refund A1")
    assert result.output == SORRY


async def test_a_claim_the_tool_backs_is_kept_and_recorded() -> None:
    agent = _agent(tool_call("refund", {"order_id": "A1"}), "Your refund has been processed.")
    result = await Runner().run(agent, "refund A1")
    assert result.output == "Your refund has been processed."
    assert REFUNDS[-1:] == ["A1"]


async def test_a_tool_that_failed_does_not_back_the_claim() -> None:
    agent = _agent(tool_call("refund", {"order_id": "BAD"}), "Your refund was processed.")
    result = await Runner().run(agent, "refund BAD")
    assert result.output == SORRY


async def test_other_replies_pass_and_a_streamed_claim_never_shows() -> None:
    ok = await Runner().run(_agent("Refunds take five days."), "how long")
    assert ok.output == "Refunds take five days."
    events: list[RunEvent] = [
        e async for e in Runner().stream(_agent("Sure. Your refund was processed."), "hi")
    ]
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "processed" not in shown and shown.endswith(SORRY)


async def test_the_desk_catches_what_its_small_model_once_said_and_passes_policy_facts() -> None:
    from keel.examples.support_desk.app import DESK_CLAIMS

    desk = UnbackedClaims(DESK_CLAIMS)
    said = "It arrived broken, so I requested a refund. The refund was processed."
    assert (await desk.check(said)).action == "block"
    assert (await desk.check("Your address has been updated to Leeds.")).action == "block"
    for fact in ["Refunds are processed within 5 business days.", "Your order shipped."]:
        assert (await desk.check(fact)).action == "allow"
