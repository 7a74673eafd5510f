"""Spans through the lifecycle seam, exported through the real OpenTelemetry SDK."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from keel import Agent, InMemorySessionStore, MaxStepsExceeded, RunLimits, tool
from keel.testing import ScriptedModel, tool_call
from tests.tracing_support import Traced


@tool
def lookup(order_id: str) -> str:
    """Find an order."""
    if order_id == "bad":
        raise KeyError(order_id)
    return "shipped"


def by_name(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_run_model_and_tool_spans_follow_genai_conventions() -> None:
    traced = Traced()
    model = ScriptedModel([tool_call("lookup", {"order_id": "A1"}), "shipped!"], model_name="m1")
    agent = Agent(name="desk", model=model, tools=[lookup])
    await traced.runner.run(agent, "where is A1")
    spans = traced.spans()
    (run,) = by_name(spans, "invoke_agent desk")
    chats = by_name(spans, "chat m1")
    (tool_span,) = by_name(spans, "execute_tool lookup")
    assert len(chats) == 2
    assert (run.kind, chats[0].kind, tool_span.kind) == (
        SpanKind.INTERNAL,
        SpanKind.CLIENT,
        SpanKind.INTERNAL,
    )
    assert attrs(run)["gen_ai.agent.name"] == "desk"
    assert attrs(run)["gen_ai.operation.name"] == "invoke_agent"
    assert attrs(chats[0])["gen_ai.operation.name"] == "chat"
    assert attrs(chats[0])["gen_ai.provider.name"] == "test"
    assert attrs(chats[0])["gen_ai.request.model"] == "m1"
    assert attrs(chats[0])["gen_ai.usage.output_tokens"] == 1
    assert attrs(tool_span)["gen_ai.tool.name"] == "lookup"
    assert attrs(tool_span)["gen_ai.tool.call.id"]
    assert run.context is not None and run.parent is None
    for child in [*chats, tool_span]:
        assert child.parent is not None and child.parent.span_id == run.context.span_id
        assert child.context is not None and child.context.trace_id == run.context.trace_id
        assert run.start_time is not None and child.start_time is not None
        assert child.start_time >= run.start_time
    assert attrs(run)["gen_ai.usage.input_tokens"] == sum(
        attrs(c)["gen_ai.usage.input_tokens"] for c in chats
    )


async def test_finish_reasons_are_reported_not_guessed() -> None:
    traced = Traced()
    await traced.runner.run(Agent(name="d", model=ScriptedModel(["ok"])), "x")
    (chat,) = by_name(traced.spans(), "chat")
    reported = attrs(chat).get("gen_ai.response.finish_reasons")
    assert reported in (None, ("stop",))  # only what the model said


async def test_no_content_is_captured_unless_asked() -> None:
    traced = Traced()
    model = ScriptedModel([tool_call("lookup", {"order_id": "A1"}), "shipped!"])
    await traced.runner.run(Agent(name="d", model=model, tools=[lookup]), "where is A1")
    for span in traced.spans():
        keys = set(attrs(span))
        assert not keys & {"gen_ai.input.messages", "gen_ai.output.messages"}
        assert "gen_ai.tool.call.arguments" not in keys
        assert all("A1" not in str(v) for v in attrs(span).values())


async def test_tool_error_marks_tool_span() -> None:
    traced = Traced()
    model = ScriptedModel([tool_call("lookup", {"order_id": "bad"}), "sorry"])
    await traced.runner.run(Agent(name="d", model=model, tools=[lookup]), "x")
    (tool_span,) = by_name(traced.spans(), "execute_tool")
    assert tool_span.status.status_code is StatusCode.ERROR
    assert attrs(tool_span)["error.type"] == "tool_error"


async def test_failed_run_closes_spans_with_error_type() -> None:
    traced = Traced()
    model = ScriptedModel([tool_call("lookup", {"order_id": "A1"})] * 3)
    agent = Agent(name="d", model=model, tools=[lookup], limits=RunLimits(max_steps=1))
    with pytest.raises(MaxStepsExceeded):
        await traced.runner.run(agent, "x")
    (run,) = by_name(traced.spans(), "invoke_agent")
    assert run.status.status_code is StatusCode.ERROR
    assert attrs(run)["error.type"] == "MaxStepsExceeded"
    assert [e.name for e in run.events] == ["exception"]


async def test_session_id_becomes_conversation_id() -> None:
    traced = Traced(session_store=InMemorySessionStore())
    await traced.runner.run(Agent(name="d", model=ScriptedModel(["ok"])), "x", session_id="c-7")
    (run,) = by_name(traced.spans(), "invoke_agent")
    assert attrs(run)["gen_ai.conversation.id"] == "c-7"


GLOBAL_SDK = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from keel import Agent, Runner
from keel.observability.pipeline import default_telemetry
from keel.testing import ScriptedModel

agent = Agent(name="desk", model=ScriptedModel(["a", "b"]))
Runner().run_sync(agent, "before any SDK")
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
Runner().run_sync(agent, "after")
default_telemetry().flush()
print(sorted(s.name for s in exporter.get_finished_spans()))
"""


def test_default_spans_follow_a_globally_configured_sdk_even_if_set_late() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", GLOBAL_SDK], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['chat scripted', 'invoke_agent desk']"


async def test_spans_opened_inside_a_tool_and_nested_runs_land_under_the_tool_span() -> None:
    traced = Traced()
    runner = traced.runner
    app_tracer = TracerProvider()
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    app_tracer.add_span_processor(SimpleSpanProcessor(traced.exporter))
    inner = Agent(name="inner", model=ScriptedModel(["inner answer"]))

    @tool
    async def ask_inner(question: str) -> str:
        """Ask the inner agent."""
        with app_tracer.get_tracer("app").start_as_current_span("app work"):
            return (await runner.run(inner, question)).output

    outer = Agent(
        name="outer",
        model=ScriptedModel([tool_call("ask_inner", {"question": "q"}), "done"]),
        tools=[ask_inner],
    )
    await runner.run(outer, "go")
    spans = traced.spans()
    (tool_span,) = by_name(spans, "execute_tool ask_inner")
    (app_span,) = by_name(spans, "app work")
    (inner_run,) = by_name(spans, "invoke_agent inner")
    (outer_run,) = by_name(spans, "invoke_agent outer")
    assert tool_span.context is not None and app_span.context is not None
    assert inner_run.context is not None
    assert app_span.parent is not None and app_span.parent.span_id == tool_span.context.span_id
    assert inner_run.parent is not None and inner_run.parent.span_id == app_span.context.span_id
    inner_chats = [s for s in by_name(spans, "chat") if s.parent == inner_run.context]
    assert len(inner_chats) == 1
    traces = {s.context.trace_id for s in spans if s.context is not None}
    assert traces == {outer_run.context.trace_id if outer_run.context else 0}
    assert tool_span.kind is SpanKind.INTERNAL


async def test_span_adds_nested_keel_spans_inside_a_tool() -> None:
    from keel.observability import span

    traced = Traced()

    @tool
    async def search_kb(query: str) -> str:
        """Search the knowledge base."""
        with span("retrieval kb", attributes={"keel.retrieval.k": 3}) as retrieval:
            assert retrieval is not None
            with span("rerank"):
                pass
            retrieval.attributes["keel.retrieval.hits"] = 2
        return "two hits"

    model = ScriptedModel([tool_call("search_kb", {"query": "q"}), "done"])
    await traced.runner.run(Agent(name="d", model=model, tools=[search_kb]), "x")
    spans = traced.spans()
    (tool_span,) = by_name(spans, "execute_tool")
    (retrieval,) = by_name(spans, "retrieval kb")
    (rerank,) = by_name(spans, "rerank")
    assert tool_span.context is not None and retrieval.context is not None
    assert retrieval.parent is not None and retrieval.parent.span_id == tool_span.context.span_id
    assert rerank.parent is not None and rerank.parent.span_id == retrieval.context.span_id
    assert attrs(retrieval) == {"keel.retrieval.k": 3, "keel.retrieval.hits": 2}


def test_span_outside_a_run_is_a_plain_api_span() -> None:
    from keel.observability import span

    with span("standalone") as record:
        assert record is None
