"""Metrics on the OpenTelemetry metrics SDK: the GenAI semantic-convention instruments
(`gen_ai.client.token.usage`, `gen_ai.client.operation.duration`, with the conventions'
attributes and advised buckets) and Keel's own beside them (`keel.*`).

`Metrics` owns a `MeterProvider` of its own. Its readers: OpenTelemetry's Prometheus
reader (`opentelemetry-exporter-prometheus`), which turns the points into Prometheus
text on scrape (`prometheus_text()`, the server's `/metrics`) with the usual mapping —
dots become underscores, the unit becomes a suffix (`_seconds`; `{token}` annotations
vanish), counters get `_total` — and any others (`export_to`: OTLP over HTTP, see
`configure_metrics`). Points are recorded from finished runs on the telemetry thread,
never on the event loop: an SDK measurement costs tens of µs (attribute hashing, locks),
so counters are summed per batch first and only histograms take one point per value.
"""

from __future__ import annotations

import atexit
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from keel.exceptions import ConfigurationError, MissingExtraError
from keel.observability.records import RunTrace

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader

    from keel.observability.pipeline import Telemetry

__all__ = ["Metrics", "configure_metrics", "default_metrics", "prometheus_text"]

TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48)
"""Both as the GenAI semantic conventions advise."""
STEP_BUCKETS = (1, 2, 3, 5, 8, 13, 21, 34)
_BREAKER_STATES = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2}
_Key = tuple[str, tuple[tuple[str, str], ...]]


class Metrics:
    """Keel's metrics on their own `MeterProvider` (`provider`), read by Prometheus and
    by every reader in `export_to` (e.g. a `PeriodicExportingMetricReader`)."""

    def __init__(self, *, export_to: Sequence[MetricReader] = (), service_name: str = "keel"):
        try:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.resources import Resource
            from prometheus_client import CollectorRegistry
        except ImportError as exc:
            raise MissingExtraError("OpenTelemetry metrics", "metrics") from exc
        self.registry = CollectorRegistry()
        """The Prometheus registry the OpenTelemetry reader fills on each scrape."""
        reader = PrometheusMetricReader(scope_info_enabled=False, registry=self.registry)
        self.provider: MeterProvider = MeterProvider(
            [reader, *export_to], resource=Resource.create({"service.name": service_name})
        )
        self._pushers = list(export_to)
        self._added: list[MetricReader] = []
        self.breakers: dict[str, Any] = {}
        """name -> circuit breaker (anything with a `state` of closed/half_open/open), beside
        the process-wide ones the model gateway shares (`breaker_for`), always reported."""
        self._telemetries: list[Telemetry] = []
        meter = self.provider.get_meter("keel")
        self._histograms(meter)
        self._counters(meter)
        self._observables(meter)

    def _histograms(self, meter: Any) -> None:
        def histogram(name: str, unit: str, description: str, buckets: Sequence[float]) -> Any:
            return meter.create_histogram(
                name,
                unit=unit,
                description=description,
                explicit_bucket_boundaries_advisory=buckets,
            )

        self.token_usage = histogram(
            "gen_ai.client.token.usage",
            "{token}",
            "Number of input and output tokens used",
            TOKEN_BUCKETS,
        )
        self.operation_duration = histogram(
            "gen_ai.client.operation.duration", "s", "GenAI operation duration", DURATION_BUCKETS
        )
        self.run_duration = histogram(
            "keel.run.duration", "s", "Run latency (one segment of a resumed run)", DURATION_BUCKETS
        )
        self.run_steps = histogram("keel.run.steps", "{step}", "Model steps per run", STEP_BUCKETS)

    def _counters(self, meter: Any) -> None:
        counter = meter.create_counter
        self.counters = {
            "runs": counter("keel.runs", unit="{run}", description="Runs by agent and status"),
            "tools": counter("keel.tool.calls", unit="{call}", description="Tool calls"),
            "tool_errors": counter(
                "keel.tool.errors", unit="{call}", description="Tool calls that returned an error"
            ),
            "trips": counter(
                "keel.guardrail.trips",
                unit="{trip}",
                description="Times a guardrail modified or blocked text, by guardrail and stage",
            ),
            "decisions": counter(
                "keel.middleware.decisions",
                unit="{decision}",
                description="Calls a middleware (a policy) denied, suspended or answered itself",
            ),
            "escalations": counter(
                "keel.escalations", unit="{run}", description="Runs handed to a person"
            ),
            "cost": counter("keel.cost.usd", unit="{USD}", description="Cost of runs in USD"),
        }
        self.approvals_pending = meter.create_up_down_counter(
            "keel.approvals.pending", unit="{action}", description="Actions waiting for a person"
        )

    def _observables(self, meter: Any) -> None:
        """Read when metrics are collected, not recorded: breaker states and drops."""
        meter.create_observable_gauge(
            "keel.breaker.state",
            [self._breaker_states],
            unit="1",
            description="Circuit breakers: 0 closed, 1 half-open, 2 open",
        )
        meter.create_observable_counter(
            "keel.telemetry.dropped",
            [self._dropped],
            unit="{run}",
            description="Runs whose telemetry was dropped (queue full)",
        )

    def count_drops_of(self, telemetry: Telemetry) -> None:
        """Report runs `telemetry` dropped in `keel.telemetry.dropped`."""
        self._telemetries.append(telemetry)

    def watch_breaker(self, name: str, breaker: Any) -> None:
        """Report `breaker.state` as `keel.breaker.state{breaker=name}` (0 closed, 2 open)."""
        self.breakers[name] = breaker

    def write(self, traces: Sequence[RunTrace]) -> None:
        """Record a batch of finished runs (the telemetry thread calls this)."""
        counts: Tally[_Key] = Tally()
        costs: dict[_Key, float] = {}
        for run in traces:
            self._observe(run)
            _count(run, counts)
            s = run.summary
            key = ("cost", (("gen_ai.agent.name", s.agent_name), ("tenant", s.tenant_id)))
            costs[key] = costs.get(key, 0.0) + s.cost_usd
        for (name, attributes), n in [*counts.items(), *costs.items()]:
            self.counters[name].add(n, dict(attributes))

    def _observe(self, run: RunTrace) -> None:
        s = run.summary
        agent = {"gen_ai.agent.name": s.agent_name}
        self.run_duration.record(s.latency_ms / 1000, agent)
        self.run_steps.record(s.steps, agent)
        for provider, model, seconds, tokens_in, tokens_out in run.model_calls:
            call = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
            }
            self.operation_duration.record(seconds, call)
            self.token_usage.record(tokens_in, {**call, "gen_ai.token.type": "input"})
            self.token_usage.record(tokens_out, {**call, "gen_ai.token.type": "output"})
        if s.pending or s.approvals_decided:
            self.approvals_pending.add(s.pending - s.approvals_decided, agent)

    def _breaker_states(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        from keel.resilience.breaker import shared_breakers

        for name, breaker in [*shared_breakers().items(), *self.breakers.items()]:
            state = str(getattr(breaker, "state", "closed")).lower().rsplit(".", 1)[-1]
            yield Observation(_BREAKER_STATES.get(state, 0), {"breaker": name})

    def _dropped(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        yield Observation(sum(t.dropped for t in self._telemetries))

    def prometheus_text(self) -> tuple[bytes, str]:
        """The current values in Prometheus text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def export_to(self, reader: MetricReader) -> None:
        """Add a reader (an OTLP exporter's periodic reader) to a running `Metrics`; it
        pushes a last time when the process exits."""
        self.provider.add_metric_reader(reader)
        self._pushers.append(reader)
        self._added.append(reader)
        if len(self._added) == 1:
            atexit.register(self._stop_added)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Push what is recorded through every pushing reader now (OTLP); True when done.
        (The SDK's `MeterProvider.force_flush` skips readers added after it was made.)"""
        return all(r.force_flush(timeout_s * 1000) for r in self._pushers)

    def shutdown(self) -> None:
        """Push a last time and stop the readers `export_to` added (done at exit otherwise)."""
        atexit.unregister(self._stop_added)
        self._stop_added()

    def _stop_added(self) -> None:
        """Readers added by `export_to` (the provider stops those it was made with)."""
        for reader in self._added:
            reader.shutdown()  # pyright: ignore[reportUnknownMemberType]
            self._pushers.remove(reader)
        self._added.clear()


def _count(run: RunTrace, counts: Tally[_Key]) -> None:
    s = run.summary
    agent = ("gen_ai.agent.name", s.agent_name)
    counts["runs", (agent, ("status", s.status))] += 1
    for tool in s.tools:
        counts["tools", (("gen_ai.tool.name", tool),)] += 1
    for tool in s.tool_errors:
        counts["tool_errors", (("gen_ai.tool.name", tool),)] += 1
    for guardrail, stage, action in s.guardrail_events:
        counts["trips", (("guardrail", guardrail), ("stage", stage), ("action", action))] += 1
    for middleware, decision in s.decisions:
        counts["decisions", (("middleware", middleware), ("decision", decision))] += 1
    if s.status == "needs_attention":
        counts["escalations", (agent,)] += 1


@cache
def default_metrics() -> Metrics:
    """The process's metrics (every app's telemetry feeds them)."""
    return Metrics()


def prometheus_text() -> tuple[bytes, str]:
    """`/metrics` for the server: the process's metrics in Prometheus text format."""
    return default_metrics().prometheus_text()


MetricExporterName = Literal["otlp-http"]


def configure_metrics(
    exporter: MetricExporterName = "otlp-http",
    *,
    endpoint: str | None = None,
    interval_s: float = 60.0,
    metrics: Metrics | None = None,
) -> Metrics:
    """Also push the process's metrics (or `metrics`) over OTLP/HTTP every `interval_s`.

    `endpoint` defaults to the exporter's (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, else
    `http://localhost:4318/v1/metrics`). Prometheus text stays available beside it.
    """
    if exporter != "otlp-http":
        raise ConfigurationError(f"unknown metric exporter {exporter!r}: use 'otlp-http'")
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    except ImportError as exc:
        raise MissingExtraError("the OTLP metric exporter", "otlp") from exc
    target = metrics if metrics is not None else default_metrics()
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint), export_interval_millis=interval_s * 1000
    )
    target.export_to(reader)
    return target
