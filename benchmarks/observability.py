"""What observability costs a turn, how fast the trace store searches, and a peer's
tracing of the same turn.

    python benchmarks/observability.py [--runs 4000] [--warmup 300] [--rounds 4]
                                       [--search-runs 100000] [--queries 200]
                                       [--peer-runs 1000] [--no-peer]

1. Per-turn overhead: the `loop_overhead.py` turn (2 model steps + 1 tool call, no
   session) with observability off; on (Keel's `Tracing` into a `Telemetry` whose worker
   exports every span to an OpenTelemetry exporter, writes the SQLite trace store and
   records the OpenTelemetry metrics); and, for scale, the same spans made as
   OpenTelemetry SDK spans on the hot path (how Keel traced before). The exporter is the
   same counting no-op `SpanExporter` everywhere. Rounds interleave; wall p50 and
   process CPU p50 (all threads, so the telemetry worker's share counts) are reported,
   and "added" is the difference to off within this run.
1b. The telemetry thread's work per sink: the turns' recorded runs written again into
   each sink alone (span export, trace store, metrics), thread CPU per run.
2. Trace search: `--search-runs` synthetic runs (2 spans each) in a SQLite trace store;
   each filter of `TraceQuery` timed `--queries` times (limit 50), p50 and p95.
3. Peer: PydanticAI's built-in OpenTelemetry instrumentation on the same turn, exporting
   through a `BatchSpanProcessor` to the same counting no-op exporter, in its own venv
   (`benchmarks/.peers/pydantic_ai_traced/`), beside its untraced turn.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from _common import (
    Timings,
    first_paragraph,
    machine_line,
    print_table,
    summarize_timings,
    time_async,
)
from keel import Runner
from keel.messages import ModelResponse, ToolResultPart
from keel.middleware import Middleware, ModelCall, ModelHandler, ToolCall, ToolHandler
from keel.observability import OTelSpanSink, Telemetry, Tracing
from keel.observability.metrics import Metrics
from keel.observability.query import TraceQuery
from keel.observability.records import RunSummary, RunTrace, SpanRecord
from keel.observability.store import SQLiteTraceStore
from loop_overhead import PROMPT, make_agent, verify

OFF, ON, SDK = (
    "observability off",
    "Keel tracing + trace store + metrics (exported)",
    "the same spans as OTel SDK spans on the hot path",
)
TARGET_ADDED_US = 60.0
SEARCH_TARGET_MS = 50.0


class CountingExporter(SpanExporter):
    """Accepts spans and counts them: the exporter's own cost is not what is measured."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


class SdkSpans(Middleware):
    """Spans made with the OpenTelemetry SDK on the hot path (the earlier design)."""

    observes_steps = False

    def __init__(self, provider: TracerProvider) -> None:
        self.tracer = provider.get_tracer("bench")
        self.runs: dict[str, Any] = {}

    async def on_event(self, event: Any) -> None:
        name = type(event).__name__
        run_id = event.context.run_id
        if name == "RunStarted":
            attributes = {"gen_ai.operation.name": "invoke_agent", "keel.run.id": run_id}
            self.runs[run_id] = self.tracer.start_span("invoke_agent calc", attributes=attributes)
        elif name in ("RunFinished", "RunFailed"):
            self.runs.pop(run_id).end()

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": call.model.name}
        with self._child(call, "chat stub", SpanKind.CLIENT, attributes) as span:
            response = await call_next(call)
            span.set_attribute("gen_ai.usage.input_tokens", response.usage.input_tokens)
            return response

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        attributes = {"gen_ai.tool.name": call.call.tool_name}
        with self._child(call, "execute_tool add", SpanKind.INTERNAL, attributes):
            return await call_next(call)

    def _child(self, call: Any, name: str, kind: SpanKind, attributes: dict[str, Any]) -> Any:
        from opentelemetry import trace

        context = trace.set_span_in_context(self.runs[call.context.run_id])
        return self.tracer.start_as_current_span(
            name, context=context, kind=kind, attributes=attributes
        )


# -- 1. per-turn overhead -------------------------------------------------------------


def runners(tmp: Path) -> tuple[dict[str, Runner], list[Any]]:
    """The three runners, and what to check afterwards (exporters, telemetry)."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    keel_exporter, sdk_exporter = CountingExporter(), CountingExporter()
    store = SQLiteTraceStore(tmp / "traces.db")
    telemetry = Telemetry([OTelSpanSink(keel_exporter), store, Metrics()])
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(sdk_exporter))
    chosen = {
        OFF: Runner(),
        ON: Runner(middleware=[Tracing(telemetry)]),
        SDK: Runner(middleware=[SdkSpans(provider)]),
    }
    return chosen, [telemetry, keel_exporter, store, provider, sdk_exporter]


Overhead = tuple[dict[str, Timings], dict[str, list[float]]]


async def overhead(args: argparse.Namespace, tmp: Path) -> Overhead:
    """Per-turn samples, and per scenario the whole CPU per turn including the work its
    background threads did for those turns (measured up to a flush of everything)."""
    chosen, (telemetry, exporter, store, provider, sdk_exporter) = runners(tmp)
    agent, pooled = make_agent(), defaultdict[str, Timings](Timings)
    whole: dict[str, list[float]] = defaultdict(list)
    per_round = max(args.runs // args.rounds, 2)
    for r in range(args.rounds):
        order = list(chosen.items())
        for label, runner in order[r % 3 :] + order[: r % 3]:
            verify(await runner.run(agent, PROMPT))
            telemetry.flush(30)
            provider.force_flush()
            cpu = time.process_time()
            timed = await time_async(_turn(runner, agent), runs=per_round, warmup=args.warmup)
            telemetry.flush(30)
            provider.force_flush()
            whole[label].append((time.process_time() - cpu) / (per_round + args.warmup) * 1e6)
            pooled[label].extend(timed)
    if exporter.spans == 0 or sdk_exporter.spans == 0 or store.count() == 0:
        raise AssertionError("nothing was exported or stored: the figures would be empty")
    print(
        f"exported {exporter.spans:,} Keel spans, stored {store.count():,} runs, "
        f"dropped {telemetry.dropped:,}; SDK scenario exported {sdk_exporter.spans:,} spans"
    )
    return pooled, whole


def _turn(runner: Runner, agent: Any) -> Callable[[int], Awaitable[object]]:
    return lambda _: runner.run(agent, PROMPT)


def print_overhead(result: Overhead) -> None:
    pooled, whole = result
    off = summarize_timings(OFF, pooled[OFF])
    off_whole = statistics.median(whole[OFF])
    headers = ["scenario (one turn = 2 model steps + 1 tool call)", "runs", "p50 µs", "p95 µs"]
    headers += ["added p50 µs", "whole CPU/turn µs", "added whole CPU µs", "target", ""]
    rows: list[list[str]] = []
    for label in (OFF, ON, SDK):
        s = summarize_timings(label, pooled[label])
        added, cpu = s.p50_us - off.p50_us, statistics.median(whole[label])
        goal = f"<= {TARGET_ADDED_US:.0f}" if label == ON else ""
        verdict = ("ok" if added <= TARGET_ADDED_US else "MISSED") if label == ON else ""
        cells = [f"{s.p50_us:,.1f}", f"{s.p95_us:,.1f}", f"{added:,.1f}", f"{cpu:,.1f}"]
        rows.append([label, f"{s.runs:,}", *cells, f"{cpu - off_whole:,.1f}", goal, verdict])
    print_table(headers, rows)
    print("\nadded p50: the turn's own latency (what the event loop pays); whole CPU/turn:")
    print("all CPU of the process per turn including the telemetry thread's exporting,")
    print("storing and metrics (timed up to a flush of everything; median of the rounds)")


# -- 1b. the telemetry thread's work, per sink ---------------------------------------


class Collected:
    """A sink that keeps the finished runs, to replay them into each real sink."""

    def __init__(self) -> None:
        self.traces: list[RunTrace] = []

    def write(self, traces: Sequence[RunTrace]) -> None:
        self.traces.extend(traces)


async def collect_turns(runs: int) -> list[RunTrace]:
    collected = Collected()
    telemetry = Telemetry([collected])
    runner, agent = Runner(middleware=[Tracing(telemetry)]), make_agent()
    for _ in range(runs):
        await runner.run(agent, PROMPT)
    telemetry.flush(30)
    return collected.traces


def sink_costs(traces: list[RunTrace], tmp: Path) -> list[list[str]]:
    """Thread CPU per run for each sink, fed the recorded turns in batches of 512."""
    sinks: dict[str, Any] = {
        "OTel spans -> exporter (counting no-op)": OTelSpanSink(CountingExporter()),
        "SQLite trace store": SQLiteTraceStore(tmp / "sinks.db"),
        "OpenTelemetry metrics (SDK, Prometheus reader)": Metrics(),
    }
    rows: list[list[str]] = []
    for label, sink in sinks.items():
        cpu = time.thread_time()
        for first in range(0, len(traces), 512):
            sink.write(traces[first : first + 512])
        per_run = (time.thread_time() - cpu) / len(traces) * 1e6
        rows.append([label, f"{len(traces):,}", f"{per_run:,.1f}"])
    return rows


# -- 2. trace search -------------------------------------------------------------------

TOOLS = ("lookup_order", "refund", "search_kb", "send_email", "escalate", "rare_tool")
ERRORS = ("MaxStepsExceeded", "ModelError", "ToolTimeout")


def synthetic(i: int, rng: random.Random, now: float) -> RunTrace:
    started = int((now - rng.random() * 30 * 86400) * 1e9)
    latency = int(rng.lognormvariate(6.5, 1.0) * 1e6)
    failed = rng.random() < 0.05
    tools = [rng.choice(TOOLS[:-1])] if rng.random() < 0.7 else []
    if rng.random() < 0.001:
        tools.append("rare_tool")
    summary = RunSummary(
        run_id=f"run-{i}",
        trace_id=rng.getrandbits(128),
        agent_name=f"agent-{i % 10}",
        tenant_id=f"tenant-{i % 20}",
        user_id=f"user-{rng.randrange(5000)}",
        session_id=f"session-{i // 4}",
        parent_run_id=None,
        model="m1",
        provider="p",
        status="failed" if failed else "completed",
        error_type=rng.choice(ERRORS) if failed else None,
        started_ns=started,
        ended_ns=started + latency,
        steps=2,
        input_tokens=rng.randrange(50, 3000),
        output_tokens=rng.randrange(10, 500),
        cost_usd=rng.random() * 0.05,
        tools=tools,
    )
    root = SpanRecord(
        "invoke_agent a", "INTERNAL", rng.getrandbits(64), None, started, {}, started + latency
    )
    chat = SpanRecord(
        "chat m1", "CLIENT", rng.getrandbits(64), root.span_id, started, {}, started + latency // 2
    )
    return RunTrace(summary, [root, chat])


def fill(store: SQLiteTraceStore, count: int) -> float:
    rng, now, start = random.Random(7), time.time(), time.perf_counter()
    for first in range(0, count, 5000):
        store.write([synthetic(i, rng, now) for i in range(first, min(first + 5000, count))])
    return time.perf_counter() - start


def search_queries(now: float) -> dict[str, dict[str, str]]:
    return {
        "user": {"user": "user-42"},
        "tenant + status=failed": {"tenant": "tenant-3", "status": "failed"},
        "session": {"session": "session-1234"},
        "agent + last 24 h": {"agent": "agent-4", "since": "24h"},
        "tool (common)": {"tool": "refund"},
        "tool (rare, ~0.1%)": {"tool": "rare_tool"},
        "error type": {"error_type": "ToolTimeout"},
        "cost >= $0.049": {"min_cost": "0.049"},
        "latency >= 20 s": {"min_latency_ms": "20s"},
        "time range (1 day, a week ago)": {"since": "8d", "until": "7d"},
        "no filter": {},
    }


def search(store: SQLiteTraceStore, queries: int) -> list[list[str]]:
    rows: list[list[str]] = []
    for label, filters in search_queries(time.time()).items():
        query = TraceQuery.parse(filters)
        samples: list[float] = []
        found = 0
        for _ in range(queries):
            start = time.perf_counter()
            found = len(store.search(query))
            samples.append((time.perf_counter() - start) * 1000)
        p95 = statistics.quantiles(samples, n=100, method="inclusive")[94]
        verdict = "ok" if p95 < SEARCH_TARGET_MS else "MISSED"
        rows.append(
            [
                label,
                str(found),
                f"{statistics.median(samples):.2f}",
                f"{p95:.2f}",
                f"< {SEARCH_TARGET_MS:.0f}",
                verdict,
            ]
        )
    return rows


# -- 3. peer ---------------------------------------------------------------------------


def peer_rows(args: argparse.Namespace) -> list[list[str]]:
    from peers import Peer, ensure_venv, run_peer

    peer = Peer(
        "pydantic_ai_traced",
        "PydanticAI",
        ("pydantic-ai-slim==2.68.0", "opentelemetry-sdk==1.45.2"),
    )
    ensure_venv(peer, reinstall=False)
    rows: list[list[str]] = []
    results = [run_peer(peer, args.peer_runs // 2, args.warmup // 5) for _ in range(2)]
    for key, label in (
        ("off", "PydanticAI, instrumentation off"),
        ("on", "PydanticAI, instrument= (OTel SDK, same exporter)"),
    ):
        wall = [x for r in results for x in r[f"{key}_samples_ns"]]
        cpu = [x for r in results for x in r[f"{key}_cpu_samples_ns"]]
        s = summarize_timings(label, Timings(wall, cpu))
        rows.append(
            [
                label,
                f"{s.runs:,}",
                f"{s.p50_us:,.1f}",
                f"{s.p95_us:,.1f}",
                f"{s.cpu_p50_us or 0:,.1f}",
            ]
        )
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--runs", type=int, default=4000, help="timed turns per scenario")
    parser.add_argument("--warmup", type=int, default=300, help="untimed turns per round")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    parser.add_argument("--search-runs", type=int, default=100_000, help="runs in the store")
    parser.add_argument("--queries", type=int, default=200, help="timings per filter")
    parser.add_argument("--peer-runs", type=int, default=1000, help="timed peer turns")
    parser.add_argument("--no-peer", action="store_true", help="skip the PydanticAI peer")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        pooled = asyncio.run(overhead(args, Path(tmp)))
        print(f"\n1. per-turn overhead ({args.rounds} interleaved rounds)\n")
        print_overhead(pooled)
        print("\n1b. the telemetry thread's CPU per run, by sink (the turn's recorded runs)\n")
        traces = asyncio.run(collect_turns(min(args.runs, 4000)))
        print_table(["sink", "runs", "thread CPU µs/run"], sink_costs(traces, Path(tmp)))
        store = SQLiteTraceStore(Path(tmp) / "search.db")
        took = fill(store, args.search_runs)
        print(
            f"\n2. trace search over {store.count():,} runs (filled in {took:.1f} s), "
            f"{args.queries} timings per filter, limit 50\n"
        )
        headers = ["filter", "found", "p50 ms", "p95 ms", "target p95", ""]
        print_table(headers, search(store, args.queries))
    if not args.no_peer:
        print("\n3. a peer's built-in tracing of the same turn, same no-op exporter\n")
        print_table(["scenario", "runs", "p50 µs", "p95 µs", "CPU p50 µs"], peer_rows(args))


if __name__ == "__main__":
    main()
