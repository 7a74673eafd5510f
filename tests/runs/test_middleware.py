"""The middleware seam: transform, deny, short-circuit, suspend — and the rule of record."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from keel import (
    Agent,
    Approve,
    DenyTools,
    InMemorySessionStore,
    Message,
    Middleware,
    MiddlewareDecision,
    ModelCall,
    ModelResponse,
    Principal,
    Respond,
    RunContext,
    RunFinished,
    Runner,
    TextDelta,
    ToolCall,
    ToolResultPart,
    TrimHistory,
    tool,
)
from keel.middleware import ModelHandler, ToolHandler
from keel.testing import ScriptedModel, tool_call

CARD = "4111 1111 1111 1111"


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order."""
    return f"{order_id} shipped"


@tool
def delete_account(user: str) -> str:
    """Delete an account."""
    raise AssertionError("a denied tool must never run")


class RedactCards(Middleware):
    async def on_input(self, ctx: RunContext, messages: list[Message]) -> list[Message]:
        return [Message.user(re.sub(r"(\d{4} ?){4}", "<CARD_1>", m.text)) for m in messages]


class DenyDestructive(Middleware):
    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        if call.call.tool_name == "delete_account":
            return call.deny("accounts are deleted by the privacy team")
        return await call_next(call)


def _texts(messages: object) -> str:
    return " ".join(m.text for m in messages)  # type: ignore[attr-defined]


async def test_redacting_input_hides_the_raw_value_from_the_model_and_the_session() -> None:
    model = ScriptedModel(["noted"])
    store = InMemorySessionStore()
    agent = Agent(name="a", model=model, middleware=[RedactCards()])
    await Runner(session_store=store).run(agent, f"my card is {CARD}", session_id="s")
    seen = _texts(model.requests[0].messages)
    assert CARD not in seen and "<CARD_1>" in seen
    stored = _texts(await store.load("s"))
    assert CARD not in stored and "<CARD_1>" in stored


async def test_a_denied_tool_call_is_told_to_the_model_and_the_run_goes_on() -> None:
    model = ScriptedModel([tool_call("delete_account", {"user": "bob"}), "I cannot do that"])
    agent = Agent(name="a", model=model, tools=[delete_account], middleware=[DenyDestructive()])
    events = [e async for e in Runner().stream(agent, "delete bob")]
    assert isinstance(events[-1], RunFinished)
    assert events[-1].result.output == "I cannot do that"
    told = model.requests[1].messages[-1].parts[0]
    assert isinstance(told, ToolResultPart) and told.is_error
    assert "privacy team" in told.content
    [decision] = [e for e in events if isinstance(e, MiddlewareDecision)]
    assert (decision.middleware, decision.kind) == ("DenyDestructive", "deny")


async def test_history_trim_changes_what_the_model_sees_not_what_is_stored() -> None:
    store = InMemorySessionStore()
    model = ScriptedModel(["one", tool_call("lookup_order", {"order_id": "A1"}), "two", "3"])
    agent = Agent(
        name="a",
        instructions="be brief",
        model=model,
        tools=[lookup_order],
        middleware=[TrimHistory(max_messages=3)],
    )
    runner = Runner(session_store=store)
    for text in ("first", "second", "third"):
        await runner.run(agent, text, session_id="s")
    last = model.requests[-1].messages
    # 5 earlier messages; cutting to 3 would split the tool exchange, so it keeps from a user
    assert [m.role for m in last] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert [m.text for m in last if m.role == "user"] == ["second", "third"]
    assert len(await store.load("s")) == 8  # the session keeps everything


async def test_a_tool_denial_policy_lets_allowed_roles_through() -> None:
    policy = DenyTools({"lookup_order"}, reason="ask a clerk", allow_roles={"clerk"})
    replies = [tool_call("lookup_order", {"order_id": "A1"}), "ok"] * 2
    model = ScriptedModel(replies)
    agent = Agent(name="a", model=model, tools=[lookup_order], middleware=[policy])
    runner = Runner()
    denied = await runner.run(agent, "where is A1")
    allowed = await runner.run(
        agent, "where is A1", principal=Principal(roles=frozenset({"clerk"}))
    )
    assert "not allowed: ask a clerk" in denied.new_messages[2].parts[0].content  # type: ignore[union-attr]
    assert allowed.new_messages[2].parts[0].content == "A1 shipped"  # type: ignore[union-attr]


async def test_a_model_call_answered_by_middleware_never_reaches_the_model() -> None:
    class Cache(Middleware):
        async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
            return ModelResponse(Message.assistant("cached answer"))

    model = ScriptedModel([])
    agent = Agent(name="a", model=model, middleware=[Cache()])
    events = [e async for e in Runner().stream(agent, "hi")]
    assert events[-1].result.output == "cached answer"  # type: ignore[attr-defined]
    assert model.requests == []
    kinds = [(e.middleware, e.kind) for e in events if isinstance(e, MiddlewareDecision)]
    assert kinds == [("Cache", "short_circuit")]


async def test_input_middleware_can_answer_in_the_models_place() -> None:
    class Refuse(Middleware):
        async def on_input(self, ctx: RunContext, messages: list[Message]) -> Respond:
            return Respond("I can only help with orders.")

    model = ScriptedModel([])
    result = await Runner().run(Agent(name="a", model=model, middleware=[Refuse()]), "poem?")
    assert result.output == "I can only help with orders."
    assert model.requests == []
    assert [m.role for m in result.new_messages] == ["user", "assistant"]


async def test_stream_and_output_middleware_shape_what_the_client_gets() -> None:
    class Shout(Middleware):
        async def stream_output(  # type: ignore[override]
            self, ctx: RunContext, chunks: AsyncIterator[str]
        ) -> AsyncIterator[str]:
            async for chunk in chunks:
                yield chunk.upper()

        async def on_output(self, ctx: RunContext, message: Message) -> Message:
            return Message.assistant(message.text.upper())

    store = InMemorySessionStore()
    agent = Agent(name="a", model=ScriptedModel(["hello there"]), middleware=[Shout()])
    events = [e async for e in Runner(session_store=store).stream(agent, "hi", session_id="s")]
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert streamed == "HELLO THERE"
    assert events[-1].result.output == "HELLO THERE"  # type: ignore[attr-defined]
    assert (await store.load("s"))[-1].text == "HELLO THERE"


async def test_middleware_can_suspend_a_model_call_until_approved() -> None:
    class Review(Middleware):
        async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
            call.require_approval("a person reviews every question first")
            return await call_next(call)

    model = ScriptedModel(["answer"])
    agent = Agent(name="a", model=model, middleware=[Review()])
    runner = Runner()
    first = await runner.run(agent, "question")
    assert first.status == "suspended" and model.requests == []
    [pending] = first.pending
    assert (pending.kind, pending.requested_by) == ("model_call", "Review")
    done = await runner.resume(first.run_id, decisions={pending.id: Approve()})
    assert (done.status, done.output, done.steps) == ("completed", "answer", 1)


async def test_two_concurrent_runs_on_one_session_lose_no_turn() -> None:
    seen: list[int] = []

    async def slow(request: object) -> str:
        users = [m for m in request.messages if m.role == "user"]  # type: ignore[attr-defined]
        seen.append(len(users))
        await asyncio.sleep(0.01)
        return f"saw {len(users)}"

    from keel.testing import FunctionModel

    store = InMemorySessionStore()
    agent = Agent(name="a", model=FunctionModel(slow))
    runner = Runner(session_store=store)
    await asyncio.gather(*(runner.run(agent, f"m{i}", session_id="s") for i in range(3)))
    assert sorted(seen) == [1, 2, 3]  # each run saw every earlier turn
    assert len(await store.load("s")) == 6


async def test_a_streamed_run_reports_its_suspension_and_streams_its_resumption() -> None:
    @tool(requires_approval=True)
    def cancel_order(order_id: str) -> str:
        """Cancel an order."""
        return f"{order_id} cancelled"

    model = ScriptedModel([tool_call("cancel_order", {"order_id": "A1"}), "cancelled it"])
    agent = Agent(name="a", model=model, tools=[cancel_order])
    runner = Runner()
    first = [type(e).__name__ async for e in runner.stream(agent, "cancel A1")]
    assert first[-2:] == ["RunSuspended", "RunFinished"]
    run_id = (await runner.run_store.list_runs(status="suspended"))[0].run_id
    events = [e async for e in runner.stream_resume(run_id, decisions={"s1c1": Approve()})]
    names = [type(e).__name__ for e in events]
    assert names[0] == "RunResumed" and names[-1] == "RunFinished"
    assert "ToolCallFinished" in names and "TextDelta" in names
    assert isinstance(events[-1], RunFinished) and events[-1].result.output == "cancelled it"
