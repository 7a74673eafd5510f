"""The model gateway's own cost, and what a breaker saves when the primary is down.

    python benchmarks/model_gateway.py [--calls 600] [--warmup 60] [--rounds 3]
        [--down-calls 60] [--litellm PYTHON]

Every client talks to the same local fake OpenAI server (`python -m keel.testing.fake_llm
openai`), run in a process of its own, so the server's work neither shares this
process's GIL nor counts in its CPU time. Overhead scenarios (one non-streamed chat
completion each, taking turns in `--rounds` rounds, order rotated):

* bare SDK: `AsyncOpenAI.chat.completions.create(...)`, SDK retries off;
* OpenAIModel: Keel's provider — payload built from a `ModelRequest`, answer parsed into
  a `ModelResponse` with usage and cost;
* ModelGateway: the provider inside a one-model gateway — breaker lookup, attempt
  timeout (`asyncio.timeout`), retry bookkeeping, span/event notes (no tracing SDK).

"Added" is the difference of medians against the bare SDK in the same run; the CPU
column is this process's CPU time per call (the client's work only).

Primary down: the primary answers every request with HTTP 503, the fallback answers.
`closed`: the breaker never opens (threshold 10^9), so each call tries the primary twice
(one retry, full-jitter backoff base 50 ms, real sleeps) before falling back; `open`: a
breaker opened by one failure sends calls straight to the fallback.

With `--litellm PYTHON` (an interpreter with litellm installed), LiteLLM's Router is
timed against the same server: a one-deployment router, and a router whose primary
deployment fails (retries 1, fallbacks to the second), side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import (
    Summary,
    Timings,
    first_paragraph,
    machine_line,
    print_table,
    summarize_timings,
    time_async,
)
from keel.messages import Message, ModelResponse, Usage
from keel.models.base import ModelRequest, ModelStreamEvent
from keel.models.gateway import BreakerPolicy, LastResort, ModelGateway, RetryPolicy
from keel.models.openai import OpenAIModel
from keel.resilience import Backoff, reset_breakers

MESSAGES = [{"role": "user", "content": "Where is my order A1001?"}]
REQUEST = ModelRequest([Message.user("Where is my order A1001?")])


@contextmanager
def fake_server(*args: str) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "keel.testing.fake_llm", "openai", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        assert line and line[0] == "ready", f"fake server did not start: {line}"
        yield line[1]
    finally:
        process.terminate()
        process.wait()


Call = Callable[[int], Awaitable[object]]


def overhead_scenarios(base_url: str) -> dict[str, Call]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
    model = OpenAIModel("gpt-4o", base_url=base_url, api_key="k")
    gateway = ModelGateway([OpenAIModel("gpt-4o", base_url=base_url, api_key="k")])

    async def bare(_: int) -> object:
        return await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]

    async def provider(_: int) -> object:
        return await model.request(REQUEST)

    async def gateway_call(_: int) -> object:
        return await gateway.request(REQUEST)

    return {"bare SDK": bare, "OpenAIModel": provider, "ModelGateway": gateway_call}


async def run_rounds(
    scenarios: dict[str, Call], *, calls: int, warmup: int, rounds: int
) -> dict[str, Timings]:
    pooled = {name: Timings() for name in scenarios}
    names = list(scenarios)
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            pooled[name].extend(
                await time_async(scenarios[name], runs=calls // rounds, warmup=warmup)
            )
    return pooled


def down_scenarios(primary: str, fallback: str) -> dict[str, Call]:
    retry = RetryPolicy(max_attempts=2, backoff=Backoff(base=0.05))

    def chain(threshold: int, primary: str) -> ModelGateway:
        return ModelGateway(
            [
                OpenAIModel("gpt-4o", base_url=primary, api_key="k"),
                OpenAIModel("gpt-4o-mini", base_url=fallback, api_key="k"),
            ],
            retry=retry,
            breaker=BreakerPolicy(failure_threshold=threshold, reset_timeout=3600),
            last_resort=LastResort(open_ticket=False),
        )

    reset_breakers()
    closed = chain(10**9, primary)
    # Another spelling of the same server: its own endpoint, so its own breaker.
    open_chain = chain(1, primary.replace("127.0.0.1", "localhost"))

    async def via_closed(_: int) -> object:
        return await closed.request(REQUEST)

    async def via_open(_: int) -> object:
        return await open_chain.request(REQUEST)

    return {"primary down, breaker closed": via_closed, "primary down, breaker open": via_open}


def row(summary: Summary, base: Summary | None, digits: int = 0) -> list[str]:
    added = "" if base is None else f"{summary.p50_us - base.p50_us:+.{digits}f}"
    cpu = "" if summary.cpu_p50_us is None else f"{summary.cpu_p50_us:.{digits}f}"
    p50, p95 = f"{summary.p50_us:.{digits}f}", f"{summary.p95_us:.{digits}f}"
    return [summary.label, str(summary.runs), p50, p95, cpu, added]


class _Stub:
    """A model that answers at once: what is left to time is the gateway itself."""

    name = "gpt-4o"
    provider = "openai"

    def __init__(self) -> None:
        self.response = ModelResponse(Message.assistant("ok"), Usage(requests=1), "gpt-4o")

    async def request(self, request: ModelRequest) -> ModelResponse:
        return self.response

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        yield self.response


def in_process_scenarios() -> dict[str, Call]:
    stub = _Stub()
    gateway = ModelGateway([_Stub()])

    async def direct(_: int) -> object:
        return await stub.request(REQUEST)

    async def through(_: int) -> object:
        return await gateway.request(REQUEST)

    return {"stub model": direct, "ModelGateway([stub])": through}


async def main(args: argparse.Namespace) -> None:
    print(machine_line())
    local = await run_rounds(in_process_scenarios(), calls=30_000, warmup=3_000, rounds=3)
    print("\nThe gateway alone, around a model that answers at once (µs)")
    stubbed = {name: summarize_timings(name, t) for name, t in local.items()}
    first = stubbed["stub model"]
    print_table(
        ["scenario", "calls", "p50", "p95", "cpu p50", "added p50"],
        [row(s, first if s is not first else None, digits=1) for s in stubbed.values()],
    )
    with fake_server() as url:
        timings = await run_rounds(
            overhead_scenarios(url), calls=args.calls, warmup=args.warmup, rounds=args.rounds
        )
    summaries = {name: summarize_timings(name, t) for name, t in timings.items()}
    base = summaries["bare SDK"]
    print("\nOne chat completion against the same local fake server (µs)")
    print_table(
        ["scenario", "calls", "p50", "p95", "cpu p50", "added p50"],
        [row(s, base if s is not base else None) for s in summaries.values()],
    )
    with fake_server("--status", "503") as primary, fake_server() as fallback:
        down = await run_rounds(
            down_scenarios(primary, fallback), calls=args.down_calls, warmup=5, rounds=1
        )
    print("\nTime to answer with the primary down (ms)")
    rows = [
        [s.label, str(s.runs), f"{s.p50_us / 1000:.1f}", f"{s.p95_us / 1000:.1f}"]
        for s in (summarize_timings(n, t) for n, t in down.items())
    ]
    print_table(["scenario", "calls", "p50", "p95"], rows)
    if args.litellm:
        run_litellm(args)


def run_litellm(args: argparse.Namespace) -> None:
    """LiteLLM's Router in its own interpreter (it is not a Keel dependency)."""
    script = Path(__file__).with_name("peers") / "litellm_router.py"
    calls = str(args.calls // args.rounds)
    with fake_server() as url, fake_server("--status", "503") as down:
        print("\nLiteLLM Router against the same servers")
        subprocess.run([args.litellm, str(script), url, down, calls, str(args.warmup)], check=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--down-calls", type=int, default=60)
    parser.add_argument("--litellm", metavar="PYTHON", default=None)
    asyncio.run(main(parser.parse_args()))
