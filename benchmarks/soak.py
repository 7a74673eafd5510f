"""Soak: `keel serve` (SQLite default, instant model) at a steady rate; is memory flat?

    .venv/bin/python benchmarks/soak.py [--workload growing|rolling] [--minutes 10]
        [--rate 40] [--sessions 500] [--turns 10-20] [--warmup auto|SECONDS]
        [--settle-s 60] [--sample-s 5] [--probe-s 10] [--server-log PATH]

Sends `POST /sessions/{id}/messages` at `--rate` requests/s, open loop (a request is sent
on schedule whether or not the earlier ones have answered). Two workloads:

- `growing` (the default): a new session for each of the first `--sessions` requests,
  then round-robin over them, so every history grows for the whole run (the worst case
  for the session store's history cache: more sessions than fit, read in a cycle).
- `rolling`: `--sessions` conversations at once, each of `--turns` turns (drawn per
  conversation; the first ones start part-way so their ends are staggered); a finished
  conversation's slot goes to a new session. Histories stay short; sessions keep coming.

**Warm-up, then a measured window.** A bounded cache grows until it reaches its bound,
which is not a leak, so the window starts only once the served app reports (through
`benchmarks/soak_probe.py`) that the SQLite session store's history cache is at its bound
(it has dropped a history) and, in `rolling`, every slot has begun a whole conversation
(until then histories are shorter than in the steady state, and a cache full of sessions
still fills with messages), plus `--settle-s` (at least 60 s from the start);
`--warmup SECONDS` fixes it instead.
Then `--minutes` of measurement. Prints the cache fill at both ends of the window, RSS
(start, end, max, least-squares slope over the window and its second half), the Python
heap (`sys.getallocatedblocks`), pymalloc's arenas, SQLite's own heap, the gc-tracked
types whose count grew most, failures, latency and CPU, with the load average.

**Verdict: flat** when RSS's slope over the whole window is at most 10 KiB/min and its
growth end-start at most 1 % of the starting RSS. Why 10 KiB/min: at 40 requests/s it is
4 bytes per request, less than any Python object a request could leave behind (an int
kept in a list costs 36 bytes: 84 KiB/min), and in `rolling` 64 bytes per new session
(~160 a minute); RSS moves in 4 KiB pages and the allocator keeps freed pages, so a
threshold much lower would be noise. A slope that passes over 10 minutes may still hide
a slower leak: a longer `--minutes` narrows it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks._common import first_paragraph, machine_line
from benchmarks.soak_report import Run, report
from tests.server.conftest import spare_port

ROOT = Path(__file__).parents[1]
MIN_WARMUP_S = 60.0
MAX_WARMUP_S = 30 * 60.0
"""The window starts here even if the cache never reached its bound (said so)."""


class Workload(Protocol):
    def session(self, i: int) -> str:
        """The session that request number `i` speaks in."""
        ...

    @property
    def settled(self) -> bool:
        """Whether the mix of conversations has reached its steady state."""
        ...


def workload(args: argparse.Namespace) -> Workload:
    """`--workload`'s sessions, as `_Growing` or `_Rolling` (below) draw them."""
    if args.workload == "rolling":
        return _Rolling(args.sessions, args.turns)
    return _Growing(args.sessions)


class _Growing:
    """New sessions for the first `sessions` requests, then round-robin over them."""

    settled = True
    """Never steady (histories grow for ever): the cache's bound is what ends the warm-up."""

    def __init__(self, sessions: int) -> None:
        self.sessions = sessions

    def session(self, i: int) -> str:
        return f"s{i % self.sessions}"


class _Rolling:
    """`sessions` conversations at once, each `turns` long; an ended one is replaced."""

    def __init__(self, sessions: int, turns: tuple[int, int], seed: int = 12) -> None:
        self.turns = turns
        self.random = random.Random(seed)
        # (session, turns left); the first ones start part-way, so they end staggered.
        self.slots = [(f"r{k}", self.random.randint(1, turns[1])) for k in range(sessions)]
        self.opened = sessions
        self.fresh: set[int] = set()
        """Slots whose part-way first conversation has ended."""

    @property
    def settled(self) -> bool:
        """Every slot is on a whole conversation: the first ones began with empty histories
        part-way through their turns, so until they end, histories are shorter than the
        steady state's (and the history cache's contents still grow)."""
        return len(self.fresh) == len(self.slots)

    def session(self, i: int) -> str:
        slot = i % len(self.slots)
        session, left = self.slots[slot]
        if left == 0:
            session, left = f"r{self.opened}", self.random.randint(*self.turns)
            self.opened += 1
            self.fresh.add(slot)
        self.slots[slot] = (session, left - 1)
        return session


class _Soak:
    def __init__(self, url: str, args: argparse.Namespace) -> None:
        self.url = url
        self.args = args
        self.workload = workload(args)
        self.latencies: list[int] = []
        self.failures = 0
        self.sent = self.finished = 0
        self.backlog: list[tuple[float, int]] = []
        """(seconds, requests sent and not yet answered): a backlog is not a steady state."""
        self.rss: list[tuple[float, int]] = []
        """(seconds after the first request, the API process's RSS in KiB)."""
        self.window_start: float | None = None if args.warmup == "auto" else float(args.warmup)
        """Seconds after the first request when the measured window starts."""

    async def one(self, client: httpx.AsyncClient, session: str) -> None:
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
        self.finished += 1

    def done(self, elapsed: float) -> bool:
        return self.window_start is not None and elapsed >= self.window_start + self.measured_s

    @property
    def measured_s(self) -> float:
        return self.args.minutes * 60

    async def drive(self) -> None:
        interval = 1 / self.args.rate
        tasks: set[asyncio.Task[None]] = set()
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            start = time.perf_counter()
            while not self.done((now := time.perf_counter()) - start):
                task = asyncio.create_task(self.one(client, self.workload.session(self.sent)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                self.sent += 1
                await asyncio.sleep(max(0.0, start + self.sent * interval - now))
            await asyncio.gather(*tasks)

    async def sample(self, pid: int, probe: Path) -> None:
        """RSS every `--sample-s`; starts the window once the history cache is full."""
        process = psutil.Process(pid)
        start = time.perf_counter()
        while not self.done(elapsed := time.perf_counter() - start):
            self.rss.append((elapsed, process.memory_info().rss // 1024))
            self.backlog.append((elapsed, self.sent - self.finished))
            if self.window_start is None:
                settled = self.workload.settled
                self.window_start = _window_start(elapsed, probe, self.args.settle_s, settled)
            await asyncio.sleep(self.args.sample_s)


def _window_start(elapsed: float, probe: Path, settle_s: float, settled: bool) -> float | None:
    """When to start measuring (auto): `settle_s` after the cache is at its bound and the
    workload's mix is steady."""
    if elapsed >= MAX_WARMUP_S:
        return elapsed
    rows = _probe_rows(probe)
    if settled and rows and (rows[-1].get("cache") or {}).get("at_bound"):
        return max(MIN_WARMUP_S, elapsed + settle_s)
    return None


def _probe_rows(probe: Path) -> list[dict[str, Any]]:
    if not probe.exists():
        return []
    lines = probe.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


async def _ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(1200):
            try:
                if (await client.get(url + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} never became ready")


async def _run(url: str, pid: int, probe: Path, args: argparse.Namespace) -> tuple[_Soak, float]:
    await _ready(url)
    soak = _Soak(url, args)
    started_wall = time.time()
    await asyncio.gather(soak.drive(), soak.sample(pid, probe))
    return soak, started_wall


def turns(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    turns = (int(low), int(high or low))
    if not 1 <= turns[0] <= turns[1]:
        raise argparse.ArgumentTypeError(f"--turns wants LOW-HIGH with 1 <= LOW <= HIGH: {text}")
    return turns


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--workload", choices=("growing", "rolling"), default="growing")
    parser.add_argument("--minutes", type=float, default=10, help="the measured window")
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--turns", type=turns, default=(10, 20), help="rolling: LOW-HIGH")
    parser.add_argument("--warmup", default="auto", help="'auto' or seconds")
    parser.add_argument("--settle-s", type=float, default=60)
    parser.add_argument("--sample-s", type=float, default=5)
    parser.add_argument("--probe-s", type=float, default=10, help="in-app probe period")
    parser.add_argument("--server-log", type=Path, help="the server's stderr (else dropped)")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    print(machine_line(), flush=True)
    port = spare_port()
    with tempfile.TemporaryDirectory() as home:
        probe = Path(home) / "probe"
        env = os.environ | {
            "PYTHONPATH": str(ROOT), "KEEL_HOME": home,
            "KEEL_SOAK_PROBE": str(probe), "KEEL_SOAK_PROBE_EVERY": str(args.probe_s),
        }  # fmt: skip
        command = [sys.executable, "-m", "keel", "serve", "--app", "benchmarks.server_app:app"]
        api = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=args.server_log.open("wb") if args.server_log else subprocess.DEVNULL,
        )
        cpu_start = time.process_time()
        try:
            url = f"http://127.0.0.1:{port}"
            soak, started_wall = asyncio.run(_run(url, api.pid, probe / "probe.jsonl", args))
            api_cpu = sum(psutil.Process(api.pid).cpu_times()[:2])
        finally:
            api.terminate()
            api.wait(timeout=60)
        client_cpu = time.process_time() - cpu_start
        run = Run.of(
            soak, started_wall=started_wall, home=Path(home), api_cpu=api_cpu, client_cpu=client_cpu
        )
    report(run)


if __name__ == "__main__":
    main()
