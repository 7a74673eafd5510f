"""The loop-overhead turn in PydanticAI, untraced and with its built-in OpenTelemetry
instrumentation exporting to a counting no-op exporter (as Keel's benchmark does).

Run by `benchmarks/observability.py` inside `benchmarks/.peers/pydantic_ai_traced/`;
prints one JSON object with both scenarios' samples. The tracer provider has a
`BatchSpanProcessor`, the usual production set-up: spans leave on its own thread.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from _harness import parse_args, time_async
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from pydantic_ai import Agent
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai_turn import ANSWER, PROMPT, prebuilt


class CountingExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def make(instrument: InstrumentationSettings | bool) -> Agent[None, str]:
    agent = Agent(FunctionModel(prebuilt), name="calc")
    agent.instrument = instrument  # pydantic-ai 2.x: a property, not a constructor argument
    agent.tool_plain(add)
    return agent


async def main() -> None:
    args = parse_args(__doc__.split("\n\n")[0])
    exporter = CountingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    agents = {"off": make(False), "on": make(InstrumentationSettings(tracer_provider=provider))}
    result: dict[str, object] = {}
    for key, agent in agents.items():
        if (await agent.run(PROMPT)).output != ANSWER:
            raise AssertionError("unexpected turn")
        timings = await time_async(
            lambda a=agent: a.run(PROMPT), runs=args.runs, warmup=args.warmup
        )
        result[f"{key}_samples_ns"] = timings.wall
        result[f"{key}_cpu_samples_ns"] = timings.cpu
    provider.force_flush()
    if exporter.spans == 0:
        raise AssertionError("PydanticAI exported no spans")
    result["spans"] = exporter.spans
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
