"""Soak: `keel serve` (SQLite default, instant model) at a steady rate; is memory flat?

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--rate 40] [--sessions 500]
        [--sample-s 5]

Sends `POST /sessions/{id}/messages` at `--rate` requests/s (open loop: a request is
sent on schedule whether or not the earlier ones have answered) for `--minutes`, to a
new session each time for the first `--sessions` requests, then round-robin over those
sessions so their histories grow as real conversations do. Every `--sample-s` seconds it
samples the API process's RSS. Prints start (after a one-minute warm-up), end and max
RSS, the least-squares slope over the sampled window (KiB per minute), requests sent,
failures and the latency p50/p99, with the load average. A leak shows as a slope that
does not fall towards zero as the run gets longer; the start-to-end delta beside it
tells how much memory the run kept.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks._common import first_paragraph, machine_line
from tests.server.conftest import spare_port

ROOT = Path(__file__).parents[1]
WARMUP_S = 60.0


class _Soak:
    def __init__(self, url: str, args: argparse.Namespace) -> None:
        self.url = url
        self.args = args
        self.latencies: list[int] = []
        self.failures = 0
        self.sent = 0

    async def one(self, client: httpx.AsyncClient, i: int) -> None:
        session = f"s{i % self.args.sessions}"
        started = time.perf_counter_ns()
        try:
            reply = await client.post(
                f"{self.url}/sessions/{session}/messages", json={"input": "hi"}
            )
            ok = reply.status_code == 200 and reply.json()["output"] == "echo: hi"
        except httpx.HTTPError:
            ok = False
        self.latencies.append(time.perf_counter_ns() - started)
        self.failures += not ok

    async def drive(self, seconds: float) -> None:
        interval = 1 / self.args.rate
        tasks: set[asyncio.Task[None]] = set()
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            start = time.perf_counter()
            while (now := time.perf_counter()) - start < seconds:
                task = asyncio.create_task(self.one(client, self.sent))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                self.sent += 1
                await asyncio.sleep(max(0.0, start + self.sent * interval - now))
            await asyncio.gather(*tasks)


async def _sample(pid: int, every: float, until: float, into: list[tuple[float, int]]) -> None:
    process = psutil.Process(pid)
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < until:
        into.append((elapsed, process.memory_info().rss // 1024))
        await asyncio.sleep(every)


async def _ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            try:
                if (await client.get(url + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} never became ready")


async def _run(
    url: str, pid: int, args: argparse.Namespace
) -> tuple[_Soak, list[tuple[float, int]]]:
    await _ready(url)
    soak = _Soak(url, args)
    samples: list[tuple[float, int]] = []
    seconds = args.minutes * 60
    await asyncio.gather(soak.drive(seconds), _sample(pid, args.sample_s, seconds, samples))
    return soak, samples


def _slope_kib_per_min(samples: list[tuple[float, int]]) -> float:
    times = [t for t, _ in samples]
    rss = [float(r) for _, r in samples]
    return statistics.linear_regression(times, rss).slope * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--sample-s", type=float, default=5)
    args = parser.parse_args()
    print(machine_line(), flush=True)
    port = spare_port()
    with tempfile.TemporaryDirectory() as home:
        sqlite_log = Path(home) / "sqlite-memory.log"
        env = os.environ | {
            "PYTHONPATH": str(ROOT), "KEEL_HOME": home, "KEEL_SOAK_SQLITE_LOG": str(sqlite_log)
        }  # fmt: skip
        command = [sys.executable, "-m", "keel", "serve", "--app", "benchmarks.server_app:app"]
        api = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cpu_start = time.process_time()
        try:
            soak, samples = asyncio.run(_run(f"http://127.0.0.1:{port}", api.pid, args))
            api_cpu = psutil.Process(api.pid).cpu_times()
        finally:
            api.terminate()
            api.wait(timeout=60)
        sqlite = _sqlite_samples(sqlite_log)
    _report(soak, samples, args, api_cpu.user + api_cpu.system, time.process_time() - cpu_start)
    _report_sqlite(sqlite, samples)


def _report(
    soak: _Soak,
    samples: list[tuple[float, int]],
    args: argparse.Namespace,
    api_cpu: float,
    client_cpu: float,
) -> None:
    window = [s for s in samples if s[0] >= WARMUP_S] or samples
    start, end = window[0][1], window[-1][1]
    cuts = statistics.quantiles(soak.latencies, n=100, method="inclusive")
    print(machine_line())
    print(
        f"{soak.sent} requests at {args.rate:g}/s for {args.minutes:g} min over "
        f"{args.sessions} sessions; failures {soak.failures}; "
        f"p50 {statistics.median(soak.latencies) / 1e6:.1f} ms, p99 {cuts[98] / 1e6:.1f} ms; "
        f"API CPU {api_cpu * 1000 / soak.sent:.2f} ms/request (client {client_cpu:.0f} s)"
    )
    print(f"RSS KiB, sampled every {args.sample_s:g} s after a {WARMUP_S:.0f} s warm-up:")
    print(
        f"  start {start:,}  end {end:,}  max {max(r for _, r in window):,}  "
        f"end-start {end - start:+,}  slope {_slope_kib_per_min(window):+.1f} KiB/min"
    )
    half = window[len(window) // 2 :]
    if len(half) >= 2:
        print(f"  slope over the second half: {_slope_kib_per_min(half):+.1f} KiB/min")


def _sqlite_samples(log: Path) -> list[tuple[float, int]]:
    """(seconds since the server started, KiB SQLite held), as `server_app` logged them."""
    if not log.exists():
        return []
    rows = (line.split() for line in log.read_text().splitlines())
    return [(float(t), int(kib)) for t, kib in rows]


def _report_sqlite(sqlite: list[tuple[float, int]], rss: list[tuple[float, int]]) -> None:
    """SQLite's heap (its page caches) beside RSS: is the growth SQLite's or the rest's?"""
    window = [s for s in sqlite if s[0] >= WARMUP_S]
    if len(window) < 4 or len(rss) < 4:
        return
    half = window[len(window) // 2 :]
    print(
        f"SQLite heap KiB (sqlite3_memory_used): start {window[0][1]:,}  end {window[-1][1]:,}"
        f"  slope {_slope_kib_per_min(window):+.1f} KiB/min,"
        f" second half {_slope_kib_per_min(half):+.1f} KiB/min"
    )


if __name__ == "__main__":
    main()
