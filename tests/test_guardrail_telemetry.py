"""Every `GuardrailTripped` — input, parallel, output, streamed output, tool call, tool
result, and an input block in raise mode — lands on the run's span as an event and in
`keel.guardrail.trips` by guardrail and stage."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from keel import Agent, Runner
from keel.context import RunContext
from keel.guardrails.base import Guardrail, GuardrailBlocked, Verdict
from keel.guardrails.middleware import Guardrails
from keel.models.base import ModelRequest
from keel.observability import OTelSpanSink, Telemetry, Tracing
from keel.observability.metrics import Metrics
from keel.testing import FunctionModel, ScriptedModel, tool_call
from tests.guardrails.test_middleware import BlockWord, Mask, fetch_page
from tests.test_metrics import samples, value


class Observed:
    """A runner traced into an in-memory exporter and a `Metrics` of its own."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.metrics = Metrics()
        self.telemetry = Telemetry([OTelSpanSink(self.exporter), self.metrics])
        self.runner = Runner(middleware=[Tracing(self.telemetry)])

    def trips_on_run_span(self) -> list[tuple[str, str, str]]:
        assert self.telemetry.flush()
        [run] = [s for s in self.exporter.get_finished_spans() if s.name.startswith("invoke_agent")]
        return [
            _trip(run, i) for i, e in enumerate(run.events) if e.name == "keel.guardrail.tripped"
        ]

    def trips_counted(self, guardrail: str, stage: str) -> float:
        assert self.telemetry.flush()
        trips = "keel_guardrail_trips_total"
        return value(samples(self.metrics), trips, guardrail=guardrail, stage=stage)


def _trip(span: ReadableSpan, index: int) -> tuple[str, str, str]:
    a = span.events[index].attributes or {}
    return (
        str(a["keel.guardrail.name"]),
        str(a["keel.guardrail.stage"]),
        str(a["keel.guardrail.action"]),
    )


def _agent(model: object, guards: Guardrails, **kwargs: object) -> Agent[str]:
    return Agent(name="a", model=model, middleware=[guards], **kwargs)  # type: ignore[arg-type]


async def test_an_input_block_is_an_event_on_the_run_span_and_a_counted_trip() -> None:
    seen = Observed()
    agent = _agent(ScriptedModel([]), Guardrails(input=[BlockWord("bomb")], reply="No."))
    assert (await seen.runner.run(agent, "how to build a bomb")).output == "No."
    assert seen.trips_on_run_span() == [("BlockWord", "input", "block")]
    assert seen.trips_counted("BlockWord", "input") == 1


async def test_an_input_block_in_raise_mode_still_reaches_the_trace() -> None:
    seen = Observed()
    guards = Guardrails(input=[BlockWord("bomb")], raise_on_block=True)
    with pytest.raises(GuardrailBlocked):
        await seen.runner.run(_agent(ScriptedModel([]), guards), "a bomb")
    assert seen.trips_on_run_span() == [("BlockWord", "input", "block")]
    assert seen.trips_counted("BlockWord", "input") == 1
    failed = value(samples(seen.metrics), "keel_runs_total", status="failed")
    assert failed == 1


async def test_a_parallel_block_is_counted() -> None:
    started = asyncio.Event()

    class Slow(Guardrail):
        async def check(self, text: str, ctx: RunContext | None = None) -> Verdict:
            await started.wait()
            return Verdict.block("no")

    async def answer(request: ModelRequest) -> str:
        started.set()
        await asyncio.Event().wait()  # cancelled by the block
        return "never"

    seen = Observed()
    agent = _agent(FunctionModel(answer), Guardrails(parallel=[Slow()], reply="Nope."))
    assert (await seen.runner.run(agent, "hi")).output == "Nope."
    assert seen.trips_on_run_span() == [("Slow", "input", "block")]
    assert seen.trips_counted("Slow", "input") == 1


async def test_output_blocks_and_modifications_are_counted_streamed_or_not() -> None:
    seen = Observed()
    password = ["the password is x. Bye."]
    blocked = _agent(ScriptedModel(password), Guardrails(output=[BlockWord("password")]))
    await seen.runner.run(blocked, "q")
    masked = _agent(ScriptedModel(["Order 1234 shipped."]), Guardrails(output=[Mask()]))
    await seen.runner.run(masked, "where")
    streamed = _agent(ScriptedModel(password), Guardrails(output=[BlockWord("password")]))
    async for _ in seen.runner.stream(streamed, "q"):
        pass
    assert seen.trips_counted("BlockWord", "output") == 1
    assert seen.trips_counted("Mask", "output") == 1
    assert seen.trips_counted("BlockWord", "stream") == 1


async def test_tool_call_and_tool_result_trips_are_on_the_run_span() -> None:
    model = ScriptedModel(
        [
            tool_call("fetch_page", {"url": "http://forbidden"}),
            tool_call("fetch_page", {"url": "http://evil"}),
            "done",
        ]
    )
    guards = Guardrails(tool_call=[BlockWord("forbidden")], tool_result=[BlockWord("IGNORE")])
    seen = Observed()
    await seen.runner.run(_agent(model, guards, tools=[fetch_page]), "go")
    assert seen.trips_on_run_span() == [
        ("BlockWord", "tool_call", "block"),
        ("BlockWord", "tool_result", "block"),
    ]
    assert seen.trips_counted("BlockWord", "tool_call") == 1
    assert seen.trips_counted("BlockWord", "tool_result") == 1
    # the denied call is also the middleware's decision, counted apart (not a second trip)
    decided = value(samples(seen.metrics), "keel_middleware_decisions_total", decision="deny")
    assert decided == 1
