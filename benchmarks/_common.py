"""Shared by the benchmark scripts: timing loops, percentiles and plain-text tables.

Percentiles are `statistics.quantiles(..., method="inclusive")`, the same formula the
peer scripts in `benchmarks/peers/` use, so figures from different processes compare.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Summary",
    "first_paragraph",
    "machine_line",
    "print_table",
    "summarize",
    "time_async",
]


@dataclass(frozen=True, slots=True)
class Summary:
    """Percentiles of one scenario, in microseconds."""

    label: str
    runs: int
    p50_us: float
    p95_us: float
    p99_us: float


def summarize(label: str, samples_ns: Sequence[int]) -> Summary:
    """Median, 95th and 99th percentile of per-run times given in nanoseconds."""
    if len(samples_ns) < 2:
        raise ValueError(f"{label}: need at least 2 samples, got {len(samples_ns)}")
    cuts = statistics.quantiles(samples_ns, n=100, method="inclusive")
    median = statistics.median(samples_ns)
    return Summary(label, len(samples_ns), median / 1000, cuts[94] / 1000, cuts[98] / 1000)


async def time_async(
    run_once: Callable[[int], Awaitable[object]], *, runs: int, warmup: int
) -> list[int]:
    """Call `run_once(i)` `warmup` times untimed, then `runs` times timed (ns each).

    `i` counts every call, warm-up included, so a scenario can derive fresh ids from it.
    A full garbage collection runs before the timed part; the collector stays enabled.
    """
    for i in range(warmup):
        await run_once(i)
    gc.collect()
    samples: list[int] = []
    clock = time.perf_counter_ns
    for i in range(warmup, warmup + runs):
        start = clock()
        await run_once(i)
        samples.append(clock() - start)
    return samples


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[c])) for r in [headers, *rows]) for c in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = (str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths).rstrip())
    for row in rows:
        print(line(row))


def machine_line() -> str:
    """Python version, platform, cores and load, printed above every set of figures.

    The load average is there because other work on a small machine moves the figures.
    """
    cpu = platform.processor() or platform.machine()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    python = f"Python {sys.version.split()[0]}"
    return f"{python} on {platform.system()} {cpu}, {os.cpu_count()} cores, load avg {load}"


def first_paragraph(doc: str | None) -> str:
    """A module docstring's first paragraph: the `--help` description of a script."""
    return (doc or "").split("\n\n")[0]
