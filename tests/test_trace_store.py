"""The trace store: written by the telemetry thread, searched by filters, pruned."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from keel import Agent, App, MaxStepsExceeded, Principal, RunLimits, tool
from keel.models.base import ModelRequest
from keel.observability import Telemetry, Tracing
from keel.observability.query import TraceFilterError, TraceQuery
from keel.observability.store import SQLiteTraceStore, TraceNotFoundError
from keel.run import Runner
from keel.testing import FunctionModel, Reply, ScriptedModel, tool_call
from tests.test_metrics import samples, value


@tool
def look_up(order_id: str) -> str:
    """Find an order."""
    if order_id == "bad":
        raise KeyError(order_id)
    return "shipped"


def agent(name: str, script: Sequence[Reply], limits: RunLimits | None = None) -> Agent[str]:
    model = ScriptedModel(list(script), model_name="m1", cost=0.25)
    return Agent(name=name, model=model, tools=[look_up], limits=limits or RunLimits())


@pytest.fixture
def store(tmp_path: Path) -> SQLiteTraceStore:
    return SQLiteTraceStore(tmp_path / "t.db")


async def test_runs_are_searchable_by_every_filter(store: SQLiteTraceStore) -> None:
    telemetry = Telemetry([store])
    runner = Runner(middleware=[Tracing(telemetry)])
    alice = Principal(user_id="alice", tenant_id="acme")
    desk = agent("desk", [tool_call("look_up", {"order_id": "A1"}), "shipped"])
    await runner.run(desk, "where", principal=alice)
    await runner.run(agent("desk", [tool_call("look_up", {"order_id": "bad"}), "sorry"]), "x")
    with pytest.raises(MaxStepsExceeded):
        script = [tool_call("look_up", {"order_id": "A1"})] * 3
        await runner.run(agent("loop", script, limits=RunLimits(max_steps=1)), "x")
    assert telemetry.flush()

    def ids(**filters: str) -> list[str]:
        return [s.agent_name for s in store.search(TraceQuery.parse(filters))]

    assert ids(user="alice") == ["desk"]
    assert ids(tenant="acme") == ["desk"]
    assert sorted(ids(agent="desk")) == ["desk", "desk"]
    assert ids(status="failed") == ["loop"]
    assert ids(error_type="MaxStepsExceeded") == ["loop"]
    assert len(ids(tool="look_up")) == 3
    assert ids(tool="look%up") == []  # literal, not a pattern
    assert len(ids(since="1h")) == 3 and ids(until="2000-01-01") == []
    (first,) = store.search(TraceQuery(user="alice"))
    assert (first.steps, first.input_tokens > 0, first.cost_usd > 0) == (2, True, True)
    assert len(ids(min_cost=str(first.cost_usd))) >= 1
    assert ids(max_latency_ms="0") == [] and len(ids(min_latency_ms="0ms")) == 3


async def test_show_returns_the_span_tree(store: SQLiteTraceStore) -> None:
    telemetry = Telemetry([store])
    runner = Runner(middleware=[Tracing(telemetry)])
    result = await runner.run(agent("desk", [tool_call("look_up", {"order_id": "A1"}), "ok"]), "x")
    assert telemetry.flush()
    (run,) = store.get(result.run_id)
    names = [s.name for s in run.spans]
    assert names[0] == "invoke_agent desk" and "execute_tool look_up" in names
    root = run.spans[0].span_id
    assert all(s.parent_id == root for s in run.spans[1:])
    assert store.get(f"{run.summary.trace_id:032x}")[0].summary.run_id == result.run_id
    with pytest.raises(TraceNotFoundError):
        store.get("nope")


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"status": "done"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"min_cost": "-1"}, "min_cost"),
        ({"max_latency_ms": "fast"}, "max_latency_ms"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_a_bad_filter_is_named(filters: dict[str, str], named: str) -> None:
    with pytest.raises(TraceFilterError, match=repr(named)) as caught:
        TraceQuery.parse(filters)
    assert caught.value.filter == named


async def test_retention_prunes_old_runs(store: SQLiteTraceStore) -> None:
    telemetry = Telemetry([store])
    runner = Runner(middleware=[Tracing(telemetry)])
    await runner.run(agent("desk", ["hi"]), "x")
    assert telemetry.flush()
    assert store.prune(before=0) == 0 and store.count() == 1
    assert store.prune(before=4e9) == 1 and store.count() == 0


class Broken:
    def write(self, traces: object) -> None:
        raise ConnectionError("collector down")


async def test_a_broken_sink_or_a_full_queue_never_fails_a_run(store: SQLiteTraceStore) -> None:
    telemetry = Telemetry([Broken(), store], max_queue=1, interval=60)
    runner = Runner(middleware=[Tracing(telemetry)])
    for _ in range(3):
        assert (await runner.run(agent("desk", ["hi"]), "x")).output == "hi"
    assert telemetry.dropped == 2  # the worker sleeps: the queue holds one run
    assert telemetry.flush()
    assert telemetry.sink_errors == 1 and store.count() == 1


async def test_an_app_records_its_runs_in_its_database(tmp_path: Path) -> None:
    app = App(agents=[agent("desk", ["hello"])], database=tmp_path / "app.db")
    result = await app.runner.run(app.agent(), "hi")
    assert app.telemetry.flush()
    (run,) = app.trace_store.get(result.run_id)
    assert run.summary.status == "completed"


@tool(requires_approval=True)
def refund(order_id: str) -> str:
    """Refund an order; a person approves first."""
    return f"refunded {order_id}"


async def test_a_suspended_then_resumed_run_is_two_segments_and_pending_balances(
    store: SQLiteTraceStore,
) -> None:
    from keel import Approve
    from keel.observability.metrics import Metrics

    metrics = Metrics()
    telemetry = Telemetry([store, metrics])
    runner = Runner(middleware=[Tracing(telemetry)])
    model = ScriptedModel([tool_call("refund", {"order_id": "A1"}), "done"])
    agent = Agent(name="desk", model=model, tools=[refund])
    first = await runner.run(agent, "refund A1")
    assert first.status == "suspended"
    assert telemetry.flush()
    assert value(samples(metrics), "keel_approvals_pending", gen_ai_agent_name="desk") == 1
    (pending,) = first.pending
    await runner.resume(first.run_id, decisions={pending.id: Approve()})
    assert telemetry.flush()
    segments = store.get(first.run_id)
    assert [(s.summary.status, s.summary.resumed) for s in segments] == [
        ("suspended", False),
        ("completed", True),
    ]
    assert segments[0].summary.trace_id != 0
    assert value(samples(metrics), "keel_approvals_pending", gen_ai_agent_name="desk") == 0


async def test_a_run_resumed_by_another_app_joins_its_first_trace_and_links_to_it(
    tmp_path: Path,
) -> None:
    """Two `App`s on one database stand for two processes: the second resumes the run."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from keel import Approve
    from keel.observability import OTelSpanSink

    def answer(request: ModelRequest) -> Reply:
        done = request.messages[-1].role == "tool"
        return "done" if done else tool_call("refund", {"order_id": "A1"})

    def app() -> App:
        desk = Agent(name="desk", model=FunctionModel(answer), tools=[refund])
        return App(agents=[desk], database=tmp_path / "a.db")

    first_app, second_app = app(), app()
    exporter = InMemorySpanExporter()
    second_app.telemetry.add_sink(OTelSpanSink(exporter))
    first = await first_app.runner.run(first_app.agent(), "refund A1")
    (pending,) = first.pending
    await second_app.runner.resume(first.run_id, decisions={pending.id: Approve()})
    assert first_app.telemetry.flush() and second_app.telemetry.flush()

    suspended, resumed = second_app.trace_store.get(first.run_id)
    assert resumed.summary.resumed and resumed.summary.status == "completed"
    assert resumed.summary.trace_id == suspended.summary.trace_id  # one trace for the run
    first_root = suspended.spans[0]
    assert resumed.spans[0].links == [(suspended.summary.trace_id, first_root.span_id)]
    assert second_app.trace_store.get(f"{suspended.summary.trace_id:032x}") == [
        suspended,
        resumed,
    ]
    (exported_root,) = [s for s in exporter.get_finished_spans() if s.parent is None]
    (link,) = exported_root.links
    assert (link.context.trace_id, link.context.span_id) == (
        suspended.summary.trace_id,
        first_root.span_id,
    )


async def test_a_streamed_run_is_traced_too(store: SQLiteTraceStore) -> None:
    telemetry = Telemetry([store])
    runner = Runner(middleware=[Tracing(telemetry)])
    agent_ = agent("desk", [tool_call("look_up", {"order_id": "A1"}), "shipped"])
    async for _ in runner.stream(agent_, "where"):
        pass
    assert telemetry.flush()
    (run,) = store.search(TraceQuery())
    assert (run.status, run.steps, run.tools) == ("completed", 2, ["look_up"])
