"""The app the CLI tests serve: `--app tests.cli_app:app`.

Scripted models only (no local model), one real tool, and the default database, which
lives in `$KEEL_HOME` (a fresh temporary directory per test, see conftest.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from keel import Agent, App, Message, ModelError, ToolResultPart, tool
from keel.models.base import ModelRequest, ModelStreamEvent, ProgressCallback, TextDelta
from keel.testing import FunctionModel, Reply, tool_call
from keel.testing.models import to_response


@tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order.

    Args:
        order_id: The order number, like A1001.
    """
    return {"order_id": order_id, "status": "shipped"}


@tool
def explode() -> str:
    """A tool that always fails."""
    raise RuntimeError("the warehouse is on fire")


def _user_count(request: ModelRequest) -> int:
    return sum(1 for m in request.messages if m.role == "user")


def _tool_result(message: Message) -> ToolResultPart:
    part = message.parts[0]
    assert isinstance(part, ToolResultPart)
    return part


_A1001 = {"order_id": "A1001"}


def support(request: ModelRequest) -> Reply:
    """Reports how many user messages it saw, so tests can tell a session continued."""
    last = request.messages[-1]
    if last.role == "tool":
        result = _tool_result(last)
        return f"The tool said: {result.content}" + (" (failed)" if result.is_error else "")
    text = last.text
    if "fail" in text:
        raise ModelError("the model is unreachable")
    if "track" in text:  # words first, then a tool call, in one response
        return Message.assistant("Let me check.", tool_calls=[tool_call("lookup_order", _A1001)])
    if "order" in text:
        return tool_call("lookup_order", _A1001)
    if "boom" in text:
        return tool_call("explode")
    return f"You said {text!r}; user messages so far: {_user_count(request)}."


class SupportModel(FunctionModel):
    """`support`, except that a story streams slowly (forever, in practice): a test stops it."""

    def __init__(self) -> None:
        super().__init__(support, model_name="support")

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        if "story" not in request.messages[-1].text:
            async for event in super().stream(request):
                yield event
            return
        for n in range(10_000):
            yield TextDelta(f"Once upon a time ({n}). ")
            await asyncio.sleep(0.05)
        yield to_response("The end.", self.name)


@tool(requires_approval=True)
def refund(order_id: str, amount: float) -> str:
    """Refund part of an order; a person approves each refund first.

    Args:
        order_id: The order number, like A1001.
        amount: How much to refund.
    """
    # A file, not a counter: the tests count refunds made by several processes.
    ledger = os.environ.get("KEEL_TEST_REFUNDS")
    if ledger:
        with open(ledger, "a", encoding="utf-8") as file:
            file.write(f"{order_id} {amount}\n")
    return f"refunded {amount:g} on order {order_id}"


def approvals(request: ModelRequest) -> Reply:
    """`refund ORDER AMOUNT` asks for the refund tool; its result is the answer."""
    last = request.messages[-1]
    if last.role == "tool":
        return f"Done: {_tool_result(last).content}"
    words = last.text.split()
    if words[:1] == ["refund"] and len(words) == 3:
        return tool_call("refund", {"order_id": words[1], "amount": float(words[2])})
    return "Ask me to `refund ORDER AMOUNT`."


class PreparingModel(FunctionModel):
    """A model with one-time setup: it answers whether `prepare` ran before the request."""

    def __init__(self) -> None:
        super().__init__(self._answer, model_name="preparing")
        self.prepared = False

    def prepare(self, progress: ProgressCallback | None = None) -> None:
        if progress is not None:
            progress("assembling model…", 0.5)
            progress("loading model…", None)
        self.prepared = True

    def _answer(self, request: ModelRequest) -> Reply:
        return f"prepared before the first request: {self.prepared}"


app = App(
    agents=[
        Agent(name="support", model=SupportModel(), tools=[lookup_order, explode]),
        Agent(name="preparing", model=PreparingModel()),
        Agent(
            name="approvals",
            model=FunctionModel(approvals, model_name="approvals"),
            tools=[refund],
        ),
        Agent(name="misconfigured", model="nope:model"),
    ],
    description="The CLI tests' app.",
)
