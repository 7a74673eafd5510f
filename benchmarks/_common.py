"""Shared by the benchmark scripts: timing loops, percentiles and plain-text tables.

Percentiles are `statistics.quantiles(..., method="inclusive")`, the same formula the
peer scripts in `benchmarks/peers/` use, so figures from different processes compare.
Every timed run is sampled twice: wall clock (`perf_counter_ns`) and the process's CPU
time (`process_time_ns`, all threads, so a tool's worker thread counts). On a busy
machine wall time includes waiting for a core; CPU time is the work itself.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Summary",
    "Timings",
    "first_paragraph",
    "machine_line",
    "print_table",
    "summarize",
    "summarize_timings",
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
    cpu_p50_us: float | None = None
    """Median CPU time of the process per run, when CPU samples were taken."""


@dataclass(slots=True)
class Timings:
    """Per-run samples in ns: `wall[i]` and `cpu[i]` are the same run's two clocks."""

    wall: list[int] = field(default_factory=list[int])
    cpu: list[int] = field(default_factory=list[int])

    def extend(self, other: Timings) -> None:
        """Pool another batch's samples into these."""
        self.wall += other.wall
        self.cpu += other.cpu


def summarize(label: str, samples_ns: Sequence[int], cpu_ns: Sequence[int] = ()) -> Summary:
    """Median, 95th and 99th percentile of per-run times given in nanoseconds.

    With `cpu_ns`, the median CPU time per run too.
    """
    if len(samples_ns) < 2:
        raise ValueError(f"{label}: need at least 2 samples, got {len(samples_ns)}")
    cuts = statistics.quantiles(samples_ns, n=100, method="inclusive")
    median = statistics.median(samples_ns)
    cpu = statistics.median(cpu_ns) / 1000 if cpu_ns else None
    return Summary(label, len(samples_ns), median / 1000, cuts[94] / 1000, cuts[98] / 1000, cpu)


def summarize_timings(label: str, timings: Timings) -> Summary:
    """`summarize` of wall samples, with the CPU median."""
    return summarize(label, timings.wall, timings.cpu)


async def time_async(
    run_once: Callable[[int], Awaitable[object]], *, runs: int, warmup: int
) -> Timings:
    """Call `run_once(i)` `warmup` times untimed, then `runs` times timed (ns each).

    `i` counts every call, warm-up included, so a scenario can derive fresh ids from it.
    A full garbage collection runs before the timed part; the collector stays enabled.
    The CPU clock is read outside the wall-clock window, so it does not inflate wall time.
    """
    for i in range(warmup):
        await run_once(i)
    gc.collect()
    timings = Timings()
    wall, cpu = time.perf_counter_ns, time.process_time_ns
    for i in range(warmup, warmup + runs):
        cpu_start = cpu()
        start = wall()
        await run_once(i)
        end = wall()
        timings.cpu.append(cpu() - cpu_start)
        timings.wall.append(end - start)
    return timings


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
    """Python version, platform, CPU, cores and load, printed above every set of figures.

    The load average is there because other work on a small machine moves the figures;
    the CPU and its widest vector instructions because machines of one kind differ (an
    int8 model runs several times faster with AVX-512 VNNI than with AVX2 alone).
    """
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    python = f"Python {sys.version.split()[0]}"
    return f"{python} on {platform.system()} {_cpu()}, {os.cpu_count()} cores, load avg {load}"


def _cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                  if ln.startswith("model name")), platform.machine())  # fmt: skip
    flags = set(next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                      if ln.startswith("flags")), []))  # fmt: skip
    simd = next((f for f in ("avx512_vnni", "avx_vnni", "avx512f", "avx2") if f in flags), "")
    return f"{model} ({simd})" if simd else model


def first_paragraph(doc: str | None) -> str:
    """A module docstring's first paragraph: the `--help` description of a script."""
    return (doc or "").split("\n\n")[0]
