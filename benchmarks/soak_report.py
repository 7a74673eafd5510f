"""What `benchmarks/soak.py` prints: the measured window's memory, and the verdict.

All series are put on one clock (seconds after the soak's first request): RSS as the
soak sampled it, and the served app's own probe rows (`benchmarks/soak_probe.py`), which
carry their wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import machine_line

__all__ = ["FLAT_FRACTION", "FLAT_KIB_PER_MIN", "Run", "report", "slope_per_min"]

FLAT_KIB_PER_MIN = 10.0
FLAT_FRACTION = 0.01
"""Flat: RSS slope over the window at most 10 KiB/min, growth at most 1 % (soak.py says why)."""

Series = list[tuple[float, float]]


@dataclass
class Run:
    args: argparse.Namespace
    sent: int
    failures: int
    latencies: list[int]
    rss: Series
    backlog: Series
    probe: list[dict[str, Any]]
    window: tuple[float, float]
    api_cpu: float
    client_cpu: float

    @classmethod
    def of(
        cls, soak: Any, *, started_wall: float, home: Path, api_cpu: float, client_cpu: float
    ) -> Run:
        path = home / "probe" / "probe.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        probe = [json.loads(line) for line in lines if line.endswith("}")]
        for row in probe:
            row["t"] = row["wall"] - started_wall
        start = soak.window_start if soak.window_start is not None else 0.0
        window = (start, start + soak.measured_s)
        rss = [(t, float(kib)) for t, kib in soak.rss]
        backlog = [(t, float(n)) for t, n in soak.backlog]
        return cls(
            soak.args, soak.sent, soak.failures, soak.latencies, rss, backlog, probe, window,
            api_cpu, client_cpu,
        )  # fmt: skip

    def probe_series(self, *path: str) -> Series:
        """One probe figure (`"pymalloc", "arenas_current"`) over the window."""
        series: Series = []
        for row in self.probe:
            value: Any = row
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None and self.window[0] <= row["t"] <= self.window[1]:
                series.append((row["t"], float(value)))
        return series

    def probe_at(self, t: float) -> dict[str, Any]:
        """The probe row nearest `t`."""
        return min(self.probe, key=lambda row: abs(row["t"] - t)) if self.probe else {}


def slope_per_min(series: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope, units per minute."""
    return statistics.linear_regression([t for t, _ in series], [v for _, v in series]).slope * 60


def report(run: Run) -> None:
    print(machine_line())
    _traffic(run)
    _cache(run)
    rss = [s for s in run.rss if run.window[0] <= s[0] <= run.window[1]]
    if len(rss) < 4:
        print("too few RSS samples in the window to judge")
        return
    _line("RSS KiB", rss)
    _line("history cache messages", run.probe_series("cache", "messages"))
    _line("anonymous KiB (smaps_rollup)", run.probe_series("smaps_kib", "Anonymous"))
    _line("Python blocks (sys.getallocatedblocks)", run.probe_series("allocated_blocks"))
    _line("pymalloc bytes in use", run.probe_series("pymalloc", "bytes_in_use"))
    _line("pymalloc arenas held", run.probe_series("pymalloc", "arenas_current"))
    _line("glibc malloc in use KiB", run.probe_series("malloc_kib", "in_use"))
    _line("glibc malloc free, kept KiB", run.probe_series("malloc_kib", "free"))
    _line("SQLite heap KiB (sqlite3_memory_used)", run.probe_series("sqlite_kib"))
    _verdict(rss)


def _traffic(run: Run) -> None:
    args, latencies = run.args, run.latencies
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    shape = f"turns {args.turns[0]}-{args.turns[1]}, " if args.workload == "rolling" else ""
    print(
        f"workload {args.workload} ({shape}{args.sessions} sessions at once): {run.sent} "
        f"requests at {args.rate:g}/s; failures {run.failures}; "
        f"p50 {statistics.median(latencies) / 1e6:.1f} ms, p99 {cuts[98] / 1e6:.1f} ms; "
        f"API CPU {run.api_cpu * 1000 / run.sent:.2f} ms/request (client {run.client_cpu:.0f} s)"
    )
    start, end = run.window
    print(f"warm-up {start:.0f} s, then a measured window of {(end - start) / 60:g} min")
    due = int(end * args.rate)
    backlog = max((n for t, n in run.backlog if start <= t <= end), default=0)
    print(f"requests unanswered at once in the window, at most: {backlog:.0f} (sampled)")
    if run.sent < 0.98 * due or backlog > args.rate:  # more than a second's worth waiting
        print(
            f"BEHIND SCHEDULE: {run.sent:,} of {due:,} requests sent, up to {backlog:.0f} "
            "waiting (a loaded machine): memory under a backlog is not the steady state's"
        )


def _cache(run: Run) -> None:
    """The history cache's fill where the window starts and ends: was it at its bound?"""
    for label, t in (("start", run.window[0]), ("end", run.window[1])):
        cache = run.probe_at(t).get("cache")
        if cache:
            bound = "at its bound" if cache["at_bound"] else "NOT at its bound"
            print(
                f"history cache at window {label}: {cache['sessions']} sessions, "
                f"{cache['messages']:,} messages, {cache['chars']:,} chars of JSON "
                f"(bounds {cache['max_sessions']}, {cache['max_messages']:,}, "
                f"{cache['max_chars']:,}); {cache['evicted']:,} histories dropped: {bound}"
            )


def _line(label: str, series: Series) -> None:
    if len(series) < 4:
        return
    half = series[len(series) // 2 :]
    start, end = series[0][1], series[-1][1]
    print(
        f"{label}: start {start:,.0f}  end {end:,.0f}  max {max(v for _, v in series):,.0f}  "
        f"end-start {end - start:+,.0f}  slope {slope_per_min(series):+,.1f}/min, "
        f"second half {slope_per_min(half):+,.1f}/min"
    )


def _verdict(rss: Series) -> None:
    slope = slope_per_min(rss)
    growth = rss[-1][1] - rss[0][1]
    limit = FLAT_FRACTION * rss[0][1]
    flat = slope <= FLAT_KIB_PER_MIN and growth <= limit
    print(
        f"verdict: {'FLAT' if flat else 'NOT FLAT'} (RSS slope {slope:+.1f} KiB/min, limit "
        f"{FLAT_KIB_PER_MIN:g}; growth {growth:+,.0f} KiB, limit {limit:,.0f} = "
        f"{FLAT_FRACTION:.0%} of the starting RSS)"
    )
