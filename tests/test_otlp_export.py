"""A real OTLP/HTTP receiver: decodes the protobuf Keel sends; no PII in any byte."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from keel import Agent, Runner, tool
from keel.observability import OTelSpanSink, Telemetry, Tracing
from keel.observability.otel import span_exporter
from keel.testing import ScriptedModel, tool_call

EMAIL, CARD, PHONE = "jane.doe@example.com", "4111 1111 1111 1111", "+44 20 7946 0958"


class Receiver(ThreadingHTTPServer):
    bodies: list[bytes]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        size = int(self.headers["Content-Length"])
        assert isinstance(self.server, Receiver)
        self.server.bodies.append(self.rfile.read(size))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), Handler)
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@tool
def update_contact(email: str, card: str) -> str:
    """Update the customer's contact details."""
    return f"saved {email} and card {card}; call {PHONE} to confirm"


async def test_otlp_http_receiver_decodes_keel_spans_without_pii(receiver: Receiver) -> None:
    endpoint = f"http://127.0.0.1:{receiver.server_port}/v1/traces"
    telemetry = Telemetry([OTelSpanSink(span_exporter("otlp-http", endpoint))])
    runner = Runner(middleware=[Tracing(telemetry, capture_content=True)])
    call = tool_call("update_contact", {"email": EMAIL, "card": CARD})
    model = ScriptedModel([call, f"Done, {EMAIL}."], model_name="m1")
    agent = Agent(name="desk", model=model, tools=[update_contact])
    await runner.run(agent, f"I am {EMAIL}, my card is {CARD}, phone {PHONE}")
    assert telemetry.flush(10)

    assert receiver.bodies, "nothing reached the receiver"
    raw = b"".join(receiver.bodies)
    for secret in (EMAIL, CARD, PHONE, CARD.replace(" ", "")):
        assert secret.encode() not in raw
    request = ExportTraceServiceRequest()
    request.ParseFromString(receiver.bodies[0])
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {"invoke_agent desk", "chat m1", "execute_tool update_contact"}
    run = by_name["invoke_agent desk"]
    assert by_name["execute_tool update_contact"].parent_span_id == run.span_id
    chat_attributes = {a.key: a.value.string_value for a in by_name["chat m1"].attributes}
    assert "[EMAIL]" in chat_attributes["gen_ai.input.messages"]  # captured, redacted
    tool_span = by_name["execute_tool update_contact"]
    tool_attributes = {a.key: a.value.string_value for a in tool_span.attributes}
    assert "[CARD]" in tool_attributes["gen_ai.tool.call.arguments"]
    assert "[PHONE]" in tool_attributes["gen_ai.tool.call.result"]


async def test_otlp_http_receiver_decodes_keel_metrics(receiver: Receiver) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    from keel.observability.metrics import Metrics, configure_metrics

    metrics = Metrics()
    endpoint = f"http://127.0.0.1:{receiver.server_port}/v1/metrics"
    configure_metrics("otlp-http", endpoint=endpoint, interval_s=3600, metrics=metrics)
    telemetry = Telemetry([metrics])
    call = tool_call("update_contact", {"email": EMAIL, "card": CARD})
    model = ScriptedModel([call, "Done."], model_name="m1", cost=0.02)
    agent = Agent(name="desk", model=model, tools=[update_contact])
    await Runner(middleware=[Tracing(telemetry)]).run(agent, f"I am {EMAIL}")
    assert telemetry.flush(10) and metrics.flush(10)
    metrics.shutdown()

    assert receiver.bodies, "nothing reached the receiver"
    request = ExportMetricsServiceRequest()
    request.ParseFromString(receiver.bodies[-1])
    found = {
        m.name: m for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    usage = found["gen_ai.client.token.usage"]
    assert usage.unit == "{token}"
    points = {
        next(a.value.string_value for a in p.attributes if a.key == "gen_ai.token.type"): p
        for p in usage.histogram.data_points
    }
    assert set(points) == {"input", "output"} and points["input"].count == 2
    attributes = {a.key: a.value.string_value for a in points["input"].attributes}
    assert attributes["gen_ai.request.model"] == "m1"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert found["gen_ai.client.operation.duration"].unit == "s"
    (tool_calls,) = found["keel.tool.calls"].sum.data_points
    assert tool_calls.as_int == 1
    assert {"keel.run.duration", "keel.runs", "keel.cost.usd"} <= set(found)
    assert EMAIL.encode() not in b"".join(receiver.bodies)
