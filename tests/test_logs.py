"""Structured JSON logs carry trace and span ids and no PII."""

from __future__ import annotations

import io
import json
import logging

from keel import Agent, Runner, tool
from keel.observability import Telemetry, Tracing
from keel.observability.logs import JsonFormatter, RunLogger
from keel.testing import ScriptedModel, tool_call

app_log = logging.getLogger("tests.app")


@tool
def notify(email: str) -> str:
    """Notify a customer."""
    app_log.warning("mailing %s", email)  # app code logging inside a tool
    return "sent"


async def test_logs_are_json_with_trace_ids_and_scrubbed() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    for name in ("tests.app", "keel.test-runs"):
        logging.getLogger(name).addHandler(handler)
    runs_log = logging.getLogger("keel.test-runs")
    runs_log.setLevel(logging.INFO)
    telemetry = Telemetry([RunLogger(runs_log)])
    runner = Runner(middleware=[Tracing(telemetry)])
    model = ScriptedModel([tool_call("notify", {"email": "jane@example.com"}), "done"])
    try:
        await runner.run(Agent(name="desk", model=model, tools=[notify]), "x")
        assert telemetry.flush()
    finally:
        for name in ("tests.app", "keel.test-runs"):
            logging.getLogger(name).removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    in_tool, finished = lines
    assert in_tool["message"] == "mailing [EMAIL]"
    assert len(in_tool["trace_id"]) == 32 and len(in_tool["span_id"]) == 16
    assert finished["event"] == "run.finished" and finished["status"] == "completed"
    assert finished["trace_id"] == in_tool["trace_id"]  # the same trace
    assert "jane@example.com" not in stream.getvalue()
