"""Spans through the lifecycle seam, checked with the real OpenTelemetry SDK."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from keel import Agent, MaxStepsExceeded, RunLimits, Runner, tool
from keel.observability import Tracing
from keel.testing import ScriptedModel, tool_call


@tool
def lookup(order_id: str) -> str:
    """Find an order."""
    if order_id == "bad":
        raise KeyError(order_id)
    return "shipped"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def traced_runner(exporter: InMemorySpanExporter) -> Runner:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Runner(middleware=[Tracing(provider.get_tracer("test"))])


def by_name(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


async def test_run_model_and_tool_spans_follow_genai_conventions(
    exporter: InMemorySpanExporter,
) -> None:
    model = ScriptedModel([tool_call("lookup", {"order_id": "A1"}), "shipped!"], model_name="m1")
    agent = Agent(name="desk", model=model, tools=[lookup])
    await traced_runner(exporter).run(agent, "where is A1")
    spans = exporter.get_finished_spans()
    (run,) = by_name(spans, "invoke_agent desk")
    chats = by_name(spans, "chat m1")
    (tool_span,) = by_name(spans, "execute_tool lookup")
    assert len(chats) == 2
    assert run.attributes is not None and run.attributes["gen_ai.agent.name"] == "desk"
    assert chats[0].attributes is not None
    assert chats[0].attributes["gen_ai.operation.name"] == "chat"
    assert chats[0].attributes["gen_ai.provider.name"] == "test"
    assert chats[0].attributes["gen_ai.usage.output_tokens"] == 1
    assert tool_span.attributes is not None and tool_span.attributes["gen_ai.tool.call.id"]
    assert run.context is not None
    for child in [*chats, tool_span]:
        assert child.parent is not None and child.parent.span_id == run.context.span_id


async def test_tool_error_marks_tool_span(exporter: InMemorySpanExporter) -> None:
    model = ScriptedModel([tool_call("lookup", {"order_id": "bad"}), "sorry"])
    await traced_runner(exporter).run(Agent(name="d", model=model, tools=[lookup]), "x")
    (tool_span,) = by_name(exporter.get_finished_spans(), "execute_tool")
    assert tool_span.status.status_code is StatusCode.ERROR


async def test_failed_run_closes_spans_with_error_type(exporter: InMemorySpanExporter) -> None:
    model = ScriptedModel([tool_call("lookup", {"order_id": "A1"})] * 3)
    agent = Agent(name="d", model=model, tools=[lookup], limits=RunLimits(max_steps=1))
    with pytest.raises(MaxStepsExceeded):
        await traced_runner(exporter).run(agent, "x")
    (run,) = by_name(exporter.get_finished_spans(), "invoke_agent")
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes is not None and run.attributes["error.type"] == "MaxStepsExceeded"


async def test_session_id_becomes_conversation_id(exporter: InMemorySpanExporter) -> None:
    from keel import InMemorySessionStore

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runner = Runner(
        session_store=InMemorySessionStore(), middleware=[Tracing(provider.get_tracer("t"))]
    )
    await runner.run(Agent(name="d", model=ScriptedModel(["ok"])), "x", session_id="conv-7")
    (run,) = by_name(exporter.get_finished_spans(), "invoke_agent")
    assert run.attributes is not None and run.attributes["gen_ai.conversation.id"] == "conv-7"


GLOBAL_SDK = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from keel import Agent, Runner
from keel.testing import ScriptedModel

agent = Agent(name="desk", model=ScriptedModel(["a", "b"]))
Runner().run_sync(agent, "before any SDK")
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
Runner().run_sync(agent, "after")
print(sorted(s.name for s in exporter.get_finished_spans()))
"""


def test_default_spans_follow_a_globally_configured_sdk_even_if_set_late() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", GLOBAL_SDK], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['chat scripted', 'invoke_agent desk']"


async def test_spans_opened_inside_a_tool_and_nested_runs_land_under_the_tool_span(
    exporter: InMemorySpanExporter,
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runner = Runner(middleware=[Tracing(provider.get_tracer("keel"))])
    inner = Agent(name="inner", model=ScriptedModel(["inner answer"]))

    @tool
    async def ask_inner(question: str) -> str:
        """Ask the inner agent."""
        with provider.get_tracer("app").start_as_current_span("app work"):
            return (await runner.run(inner, question)).output

    outer = Agent(
        name="outer",
        model=ScriptedModel([tool_call("ask_inner", {"question": "q"}), "done"]),
        tools=[ask_inner],
    )
    await runner.run(outer, "go")
    spans = exporter.get_finished_spans()
    (tool_span,) = by_name(spans, "execute_tool ask_inner")
    (app_span,) = by_name(spans, "app work")
    (inner_run,) = by_name(spans, "invoke_agent inner")
    (outer_run,) = by_name(spans, "invoke_agent outer")
    assert tool_span.context is not None and app_span.context is not None
    assert app_span.parent is not None and app_span.parent.span_id == tool_span.context.span_id
    assert inner_run.parent is not None and inner_run.parent.span_id == app_span.context.span_id
    assert {s.context.trace_id for s in (tool_span, inner_run, outer_run) if s.context} == {
        tool_span.context.trace_id
    }
    assert tool_span.kind.name == "INTERNAL"
