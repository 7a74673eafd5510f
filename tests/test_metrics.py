"""Metrics in Prometheus text, parsed with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from keel import Agent, Runner, tool
from keel.messages import ToolResultPart
from keel.middleware import Middleware, ToolCall, ToolHandler
from keel.observability import Telemetry, Tracing
from keel.observability.metrics import Metrics
from keel.observability.records import RunSummary, RunTrace
from keel.resilience.breaker import breaker_for
from keel.testing import ScriptedModel, tool_call


@tool
def look_up(order_id: str) -> str:
    """Find an order."""
    if order_id == "bad":
        raise KeyError(order_id)
    return "shipped"


class NoRefunds(Middleware):
    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        if call.arguments.get("order_id") == "R":
            return call.deny("refunds need a person")
        return await call_next(call)


class Breaker:
    state = "open"


def samples(metrics: Metrics) -> dict[str, list[Sample]]:
    body, content_type = metrics.prometheus_text()
    assert content_type.startswith("text/plain")
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def value(found: dict[str, list[Sample]], name: str, **labels: str) -> float:
    matching = [s for s in found[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    assert matching, f"no {name} with {labels}: {found.get(name)}"
    return sum(s.value for s in matching)


async def test_genai_and_keel_metrics_reach_prometheus_text() -> None:
    metrics = Metrics()
    telemetry = Telemetry([metrics])
    metrics.count_drops_of(telemetry)
    metrics.watch_breaker("openai", Breaker())
    breaker_for("shared:endpoint")  # the gateway's shared breakers are reported unasked
    runner = Runner(middleware=[Tracing(telemetry), NoRefunds()])
    script = [
        tool_call("look_up", {"order_id": "A1"}),
        tool_call("look_up", {"order_id": "bad"}),
        tool_call("look_up", {"order_id": "R"}),
        "done",
    ]
    agent = Agent(
        name="desk", model=ScriptedModel(script, model_name="m1", cost=0.01), tools=[look_up]
    )
    await runner.run(agent, "go")
    assert telemetry.flush()
    found = samples(metrics)
    token = "gen_ai_client_token_usage"
    assert value(found, f"{token}_count", gen_ai_token_type="input", gen_ai_request_model="m1") == 4
    assert value(found, "gen_ai_client_operation_duration_seconds_count") == 4
    assert value(found, "keel_runs_total", gen_ai_agent_name="desk", status="completed") == 1
    assert value(found, "keel_run_steps_sum", gen_ai_agent_name="desk") == 4
    assert value(found, "keel_tool_calls_total", gen_ai_tool_name="look_up") == 3
    assert value(found, "keel_tool_errors_total", gen_ai_tool_name="look_up") == 2
    decisions = "keel_middleware_decisions_total"
    assert value(found, decisions, middleware="NoRefunds", decision="deny") == 1
    assert value(found, "keel_cost_usd_total", tenant="default") > 0
    assert value(found, "keel_breaker_state", breaker="openai") == 2
    assert value(found, "keel_breaker_state", breaker="shared:endpoint") == 0
    assert value(found, "keel_telemetry_dropped_total") == 0


def test_the_grafana_dashboard_queries_only_metrics_keel_exports() -> None:
    import json
    import re
    from pathlib import Path

    dashboard = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "keel.json"
    panels = json.loads(dashboard.read_text())["panels"]
    metrics = Metrics()
    metrics.write([_everything()])  # every instrument gets a point: all names are exported
    metrics.watch_breaker("openai", Breaker())
    exported = {
        family.name
        for family in text_string_to_metric_families(metrics.prometheus_text()[0].decode())
    }
    used = {
        re.sub(r"_(bucket|sum|count|total)$", "", name)
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(
            r"\b(?:keel|gen_ai)_[a-z_]+", re.sub(r"by \([^)]*\)", "", target["expr"])
        )
    }
    assert used and used <= exported, used - exported


def _everything() -> RunTrace:
    """A run that touched every metric: model calls, tools, errors, trips, a policy
    decision, an escalation, a pending approval."""
    summary = RunSummary(
        run_id="r",
        trace_id=1,
        agent_name="desk",
        tenant_id="t",
        user_id=None,
        session_id=None,
        parent_run_id=None,
        model="m",
        provider="p",
        status="needs_attention",
        ended_ns=1_000_000,
        tools=["look_up"],
        tool_errors=["look_up"],
        guardrail_events=[("BlockWord", "input", "block")],
        decisions=[("NoRefunds", "deny")],
        pending=1,
        cost_usd=0.5,
    )
    return RunTrace(summary, [], [("p", "m", 0.2, 10, 5)])
