"""Timing and reporting shared by the peer scripts; standard library only.

A peer script runs inside its framework's own virtual environment (made by
`benchmarks/peers.py`), so it cannot import Keel or `benchmarks/_common.py`. The
percentile formula here is the same as there: `statistics.quantiles(..., "inclusive")`.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=5000, help="timed turns")
    parser.add_argument("--warmup", type=int, default=500, help="untimed turns first")
    return parser.parse_args()


async def time_async(
    run_once: Callable[[], Awaitable[object]], *, runs: int, warmup: int
) -> list[int]:
    """Warm up untimed, collect garbage once, then time each of `runs` calls in ns."""
    for _ in range(warmup):
        await run_once()
    gc.collect()
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(runs):
        start = clock()
        await run_once()
        samples.append(clock() - start)
    return samples


def report(framework: str, distribution: str, samples: list[int], notes: str) -> None:
    """Print one JSON object: what ran, p50 and p95 in µs, and every sample in ns.

    The samples let `benchmarks/peers.py` pool several interleaved rounds exactly.
    """
    p95 = statistics.quantiles(samples, n=100, method="inclusive")[94]
    result = {
        "framework": framework,
        "version": f"{distribution} {version(distribution)}",
        "runs": len(samples),
        "p50_us": statistics.median(samples) / 1000,
        "p95_us": p95 / 1000,
        "notes": notes,
        "samples_ns": samples,
    }
    print(json.dumps(result))
