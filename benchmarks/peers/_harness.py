"""Timing and reporting shared by the peer scripts; standard library only.

A peer script runs inside its framework's own virtual environment (made by
`benchmarks/peers.py`), so it cannot import Keel or `benchmarks/_common.py`. The
percentile formula here is the same as there: `statistics.quantiles(..., "inclusive")`,
and each run is sampled the same way: wall clock, and the process's CPU time read outside
the wall-clock window.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import version


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=5000, help="timed turns")
    parser.add_argument("--warmup", type=int, default=500, help="untimed turns first")
    return parser.parse_args()


@dataclass
class Timings:
    """Per-run samples in ns: `wall[i]` and `cpu[i]` are the same run's two clocks."""

    wall: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)


async def time_async(
    run_once: Callable[[], Awaitable[object]], *, runs: int, warmup: int
) -> Timings:
    """Warm up untimed, collect garbage once, then time each of `runs` calls in ns."""
    for _ in range(warmup):
        await run_once()
    gc.collect()
    timings = Timings()
    wall, cpu = time.perf_counter_ns, time.process_time_ns
    for _ in range(runs):
        cpu_start = cpu()
        start = wall()
        await run_once()
        end = wall()
        timings.cpu.append(cpu() - cpu_start)
        timings.wall.append(end - start)
    return timings


def report(framework: str, distribution: str, timings: Timings, notes: str) -> None:
    """Print one JSON object: what ran, p50 and p95 in µs, and every sample in ns.

    The samples let `benchmarks/peers.py` pool several interleaved rounds exactly.
    """
    samples = timings.wall
    p95 = statistics.quantiles(samples, n=100, method="inclusive")[94]
    result = {
        "framework": framework,
        "version": f"{distribution} {version(distribution)}",
        "runs": len(samples),
        "p50_us": statistics.median(samples) / 1000,
        "p95_us": p95 / 1000,
        "cpu_p50_us": statistics.median(timings.cpu) / 1000,
        "notes": notes,
        "samples_ns": samples,
        "cpu_samples_ns": timings.cpu,
    }
    print(json.dumps(result))
