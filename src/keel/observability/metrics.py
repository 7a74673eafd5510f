"""Metrics: OpenTelemetry instruments with the GenAI names where the conventions define
them, Keel's own beside them, read out in Prometheus text by the OpenTelemetry
Prometheus exporter (extra `metrics`).

`Metrics` is a telemetry sink: points are recorded from finished runs on the telemetry
thread, never on the event loop. `prometheus_text()` is what the server mounts at
`/metrics`; it exposes a registry of its own, not the process-global one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from keel.exceptions import MissingExtraError
from keel.observability.records import RunTrace

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation
    from prometheus_client import CollectorRegistry

    from keel.observability.pipeline import Telemetry

__all__ = ["Metrics", "default_metrics", "prometheus_text"]

TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48)
"""Both as the GenAI semantic conventions advise."""
_BREAKER_STATES = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2}


class Metrics:
    """Keel's instruments on a `MeterProvider` read by a Prometheus reader."""

    def __init__(self) -> None:
        try:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from opentelemetry.sdk.metrics import MeterProvider
            from prometheus_client import CollectorRegistry
        except ImportError as exc:
            raise MissingExtraError("Prometheus metrics", "metrics") from exc
        self.registry: CollectorRegistry = CollectorRegistry()
        reader = PrometheusMetricReader(registry=self.registry)
        self.provider = MeterProvider(metric_readers=[reader])
        self.breakers: dict[str, Any] = {}
        """name -> circuit breaker (anything with a `state` of closed/half_open/open)."""
        self._telemetries: list[Telemetry] = []
        self._make_instruments()

    def _make_instruments(self) -> None:
        meter = self.provider.get_meter("keel")
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens used per model call",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.operation_duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of model calls",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.run_duration = meter.create_histogram(
            "keel.run.duration", unit="s", explicit_bucket_boundaries_advisory=DURATION_BUCKETS
        )
        self.run_steps = meter.create_histogram(
            "keel.run.steps", explicit_bucket_boundaries_advisory=(1, 2, 3, 5, 8, 13, 21)
        )
        self.runs = meter.create_counter("keel.runs", description="Runs by agent and status")
        self.tool_calls = meter.create_counter("keel.tool.calls")
        self.tool_errors = meter.create_counter("keel.tool.errors")
        self.guardrail_trips = meter.create_counter("keel.guardrail.trips")
        self.escalations = meter.create_counter("keel.escalations")
        self.approvals_pending = meter.create_up_down_counter("keel.approvals.pending")
        self.cost = meter.create_counter("keel.cost", unit="USD")
        meter.create_observable_gauge("keel.breaker.state", [self._breaker_states])
        meter.create_observable_counter("keel.telemetry.dropped", [self._dropped_runs])

    def count_drops_of(self, telemetry: Telemetry) -> None:
        """Report runs `telemetry` dropped in `keel_telemetry_dropped`."""
        self._telemetries.append(telemetry)

    def watch_breaker(self, name: str, breaker: Any) -> None:
        """Report `breaker.state` as `keel_breaker_state{breaker=name}` (0 closed, 2 open)."""
        self.breakers[name] = breaker

    def write(self, traces: Sequence[RunTrace]) -> None:
        for run in traces:
            self._record_run(run)
            for provider, model, seconds, tokens_in, tokens_out in run.model_calls:
                labels = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": provider,
                    "gen_ai.request.model": model,
                }
                self.operation_duration.record(seconds, labels)
                self.token_usage.record(tokens_in, {**labels, "gen_ai.token.type": "input"})
                self.token_usage.record(tokens_out, {**labels, "gen_ai.token.type": "output"})

    def _record_run(self, run: RunTrace) -> None:
        s = run.summary
        agent = {"gen_ai.agent.name": s.agent_name}
        self.runs.add(1, {**agent, "status": s.status})
        self.run_duration.record(s.latency_ms / 1000, agent)
        self.run_steps.record(s.steps, agent)
        self.cost.add(s.cost_usd, {**agent, "tenant": s.tenant_id})
        for tool in s.tools:
            self.tool_calls.add(1, {"gen_ai.tool.name": tool})
        for tool in s.tool_errors:
            self.tool_errors.add(1, {"gen_ai.tool.name": tool})
        for guardrail in s.guardrail_trips:
            self.guardrail_trips.add(1, {"guardrail": guardrail})
        if s.status == "needs_attention":
            self.escalations.add(1, agent)
        if s.pending or s.approvals_decided:
            self.approvals_pending.add(s.pending - s.approvals_decided, agent)

    def _breaker_states(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        for name, breaker in list(self.breakers.items()):
            state = str(getattr(breaker, "state", "closed")).lower().rsplit(".", 1)[-1]
            yield Observation(_BREAKER_STATES.get(state, 0), {"breaker": name})

    def _dropped_runs(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        yield Observation(sum(t.dropped for t in self._telemetries))

    def prometheus_text(self) -> tuple[bytes, str]:
        """The current values in Prometheus text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


@cache
def default_metrics() -> Metrics:
    """The process's metrics (every app's telemetry feeds them)."""
    return Metrics()


def prometheus_text() -> tuple[bytes, str]:
    """`/metrics` for the server: the process's metrics in Prometheus text format."""
    return default_metrics().prometheus_text()
