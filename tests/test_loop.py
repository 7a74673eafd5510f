"""The agent loop: answers, tool calls, bounds, errors fed back, events and hooks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from keel import (
    Agent,
    InMemorySessionStore,
    MaxStepsExceeded,
    ModelRequestStarted,
    ModelResponseReceived,
    RunContext,
    RunEvent,
    RunFailed,
    RunFinished,
    RunLimits,
    Runner,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageLimitExceeded,
    tool,
)
from keel.messages import ToolResultPart
from keel.testing import ScriptedModel, tool_call


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"boom: {reason}")


class Recorder:
    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    async def on_event(self, event: RunEvent) -> None:
        self.events.append(event)


def tool_results(result: Any) -> list[ToolResultPart]:
    return [p for m in result.new_messages for p in m.parts if isinstance(p, ToolResultPart)]


async def test_plain_answer_is_the_output() -> None:
    agent = Agent(name="a", model=ScriptedModel(["hello there"]))
    result = await Runner().run(agent, "hi")
    assert result.output == "hello there"
    assert result.steps == 1
    assert [m.role for m in result.new_messages] == ["user", "assistant"]


async def test_tool_call_result_reaches_the_model_then_answer() -> None:
    model = ScriptedModel([tool_call("add", {"a": 2, "b": 40}), "it is 42"])
    result = await Runner().run(Agent(name="calc", model=model, tools=[add]), "2+40?")
    assert result.output == "it is 42"
    assert [r.content for r in tool_results(result)] == ["42"]
    second_request = model.requests[1]
    assert second_request.messages[-1].role == "tool"
    assert second_request.tools[0].name == "add"
    assert result.usage.tool_calls == 1 and result.usage.requests == 2


async def test_instructions_are_sent_as_system_message_first() -> None:
    model = ScriptedModel(["ok"])
    await Runner().run(Agent(name="a", instructions="Be terse.", model=model), "hi")
    first = model.requests[0].messages[0]
    assert first.role == "system" and first.text == "Be terse."


async def test_max_steps_bounds_a_model_that_never_stops_calling_tools() -> None:
    model = ScriptedModel([tool_call("add", {"a": 1, "b": 1}) for _ in range(10)])
    agent = Agent(name="loop", model=model, tools=[add], limits=RunLimits(max_steps=3))
    with pytest.raises(MaxStepsExceeded, match="max_steps") as info:
        await Runner().run(agent, "go")
    assert info.value.limit == "max_steps"
    assert len(model.requests) == 3


async def test_tool_exception_goes_back_to_model_and_run_continues() -> None:
    model = ScriptedModel([tool_call("explode", {"reason": "disk"}), "sorry, it failed"])
    result = await Runner().run(Agent(name="a", model=model, tools=[explode]), "try")
    (res,) = tool_results(result)
    assert res.is_error and "RuntimeError: boom: disk" in res.content
    assert result.output == "sorry, it failed"


async def test_invalid_arguments_are_reported_with_the_field_at_fault() -> None:
    model = ScriptedModel([tool_call("add", {"a": "many", "b": 1}), "fixed"])
    result = await Runner().run(Agent(name="a", model=model, tools=[add]), "x")
    (res,) = tool_results(result)
    assert res.is_error and "invalid arguments for 'add'" in res.content and "a:" in res.content


async def test_missing_and_extra_arguments_are_errors_not_crashes() -> None:
    model = ScriptedModel([tool_call("add", {"a": 1, "c": 3}), "ok"])
    result = await Runner().run(Agent(name="a", model=model, tools=[add]), "x")
    content = tool_results(result)[0].content
    assert "b: Field required" in content and "c: Extra inputs are not permitted" in content


async def test_unknown_tool_lists_the_available_ones() -> None:
    model = ScriptedModel([tool_call("delete_everything", {}), "ok"])
    result = await Runner().run(Agent(name="a", model=model, tools=[add]), "x")
    (res,) = tool_results(result)
    assert (
        res.is_error and "unknown tool 'delete_everything'" in res.content and "add" in res.content
    )


async def test_tool_results_are_cut_to_the_limit() -> None:
    @tool
    def big() -> str:
        """Returns a lot."""
        return "x" * 50_000

    limits = RunLimits(max_tool_result_chars=500)
    model = ScriptedModel([tool_call("big"), "done"])
    result = await Runner().run(Agent(name="a", model=model, tools=[big], limits=limits), "x")
    content = tool_results(result)[0].content
    assert len(content) == 500 and "more characters]" in content


async def test_parallel_tool_calls_keep_their_order_and_run_concurrently() -> None:
    running = 0
    peak = 0

    @tool
    async def slow(n: int) -> int:
        """Sleeps briefly."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01 * (3 - n))
        running -= 1
        return n

    calls = [tool_call("slow", {"n": n}) for n in range(3)]
    model = ScriptedModel([calls, "done"])
    result = await Runner().run(Agent(name="a", model=model, tools=[slow]), "x")
    assert [r.content for r in tool_results(result)] == ["0", "1", "2"]
    assert peak == 3


async def test_tools_receive_run_context_with_deps() -> None:
    seen: list[RunContext] = []

    @tool
    def whoami(ctx: RunContext) -> str:
        """Tell the user who they are."""
        seen.append(ctx)
        return str(ctx.deps["user"])

    model = ScriptedModel([tool_call("whoami"), "done"])
    agent = Agent(name="a", model=model, tools=[whoami])
    result = await Runner().run(agent, "x", deps={"user": "ana"})
    assert tool_results(result)[0].content == "ana"
    assert seen[0].run_id == result.run_id and "ctx" not in whoami.parameters["properties"]


async def test_tool_call_limit_raises_usage_limit_exceeded() -> None:
    model = ScriptedModel([[tool_call("add", {"a": 1, "b": 1})] * 3, "done"])
    agent = Agent(name="a", model=model, tools=[add], limits=RunLimits(max_tool_calls=2))
    with pytest.raises(UsageLimitExceeded) as info:
        await Runner().run(agent, "x")
    assert info.value.limit == "max_tool_calls"


async def test_token_limit_raises_usage_limit_exceeded() -> None:
    model = ScriptedModel(["one two three four five"])
    agent = Agent(name="a", model=model, limits=RunLimits(max_output_tokens=3))
    with pytest.raises(UsageLimitExceeded, match="max_output_tokens=3"):
        await Runner().run(agent, "x")


async def test_stream_yields_deltas_tool_events_and_final_result_in_order() -> None:
    model = ScriptedModel([tool_call("add", {"a": 1, "b": 2}), "the sum is 3"])
    agent = Agent(name="a", model=model, tools=[add])
    events = [e async for e in Runner().stream(agent, "1+2")]
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert (
        kinds.index("ToolCallStarted") < kinds.index("ToolCallFinished") < kinds.index("TextDelta")
    )
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "the sum is 3"
    final = events[-1]
    assert isinstance(final, RunFinished) and final.result.output == "the sum is 3"


async def test_hooks_see_every_lifecycle_event_in_order() -> None:
    recorder = Recorder()
    model = ScriptedModel([tool_call("add", {"a": 1, "b": 2}), "3"])
    await Runner(hooks=[recorder]).run(Agent(name="a", model=model, tools=[add]), "x")
    assert [type(e) for e in recorder.events] == [
        RunStarted,
        ModelRequestStarted,
        ModelResponseReceived,
        ToolCallStarted,
        ToolCallFinished,
        ModelRequestStarted,
        ModelResponseReceived,
        RunFinished,
    ]


async def test_a_hook_that_raises_aborts_the_run_and_failure_is_reported() -> None:
    class Guard:
        async def on_event(self, event: RunEvent) -> None:
            if isinstance(event, ToolCallStarted):
                raise PermissionError("tool calls are not allowed here")

    recorder = Recorder()
    model = ScriptedModel([tool_call("add", {"a": 1, "b": 2}), "3"])
    agent = Agent(name="a", model=model, tools=[add], hooks=[Guard()])
    with pytest.raises(PermissionError):
        await Runner(hooks=[recorder]).run(agent, "x")
    assert isinstance(recorder.events[-1], RunFailed)
    assert isinstance(recorder.events[-1].error, PermissionError)


async def test_abandoned_stream_reports_failure_to_hooks() -> None:
    recorder = Recorder()
    agent = Agent(name="a", model=ScriptedModel(["a b c d"]))
    stream = Runner(hooks=[recorder]).stream(agent, "x")
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()
    assert isinstance(recorder.events[-1], RunFailed)


async def test_failed_run_writes_nothing_to_the_session() -> None:
    store = InMemorySessionStore()
    runner = Runner(session_store=store)
    await runner.run(Agent(name="a", model=ScriptedModel(["first"])), "one", session_id="s")
    looping = Agent(
        name="a",
        model=ScriptedModel([tool_call("add", {"a": 1, "b": 1})] * 5),
        tools=[add],
        limits=RunLimits(max_steps=2),
    )
    with pytest.raises(MaxStepsExceeded):
        await runner.run(looping, "two", session_id="s")
    assert [m.text for m in await store.load("s")] == ["one", "first"]


async def test_session_history_is_sent_on_the_next_run() -> None:
    store = InMemorySessionStore()
    runner = Runner(session_store=store)
    model = ScriptedModel(["hi ana", "your name is ana"])
    agent = Agent(name="a", model=model)
    await runner.run(agent, "I am ana", session_id="s1")
    result = await runner.run(agent, "who am I?", session_id="s1")
    assert [m.text for m in model.requests[1].messages] == ["I am ana", "hi ana", "who am I?"]
    assert len(result.history) == 2 and len(result.messages) == 4


@pytest.mark.parametrize("bad", ["", "   ", 42, [], ["not a message"], None])
async def test_bad_input_is_rejected_before_any_model_call(bad: Any) -> None:
    model = ScriptedModel(["never"])
    with pytest.raises((TypeError, ValueError)):
        await Runner().run(Agent(name="a", model=model), bad)
    assert model.requests == []


def test_run_sync_works_without_an_event_loop() -> None:
    result = Runner().run_sync(Agent(name="a", model=ScriptedModel(["sync ok"])), "x")
    assert result.output == "sync ok"


def test_agent_rejects_duplicate_tool_names_and_empty_name() -> None:
    with pytest.raises(ValueError, match="two tools named 'add'"):
        Agent(name="a", tools=[add, add])
    with pytest.raises(ValueError, match="non-empty name"):
        Agent(name=" ")


def test_run_limits_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="max_steps"):
        RunLimits(max_steps=0)
