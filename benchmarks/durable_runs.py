"""Durable runs under load and across a suspension: event-loop lag, throughput, resume.

    python benchmarks/durable_runs.py [--concurrency 200] [--sweep 1 20] [--seconds 6]
                                      [--rounds 3] [--resumes 1500] [--warmup 150]
                                      [--model-ms 0]

Every runner here that is "durable" has a `SQLiteRunStore` and a `SQLiteSessionStore` on
one `SQLiteDatabase` (a file in a temporary folder), so each run is checkpointed at every
step boundary; every run gets a new session. The turn is `loop_overhead.py`'s: the model
asks for one tool call (`add`), then answers.

Part 1, event-loop lag. `--concurrency` workers each call `runner.run` back to back, so
that many durable runs are always in flight, for `--seconds` per row (split over
`--rounds` rotated rounds, after a short untimed warm-up). Beside them a ticker task
sleeps 1 ms in a loop and records how late each wake-up is: the time every other
coroutine on the loop waits behind the runs. The model answers at once but yields to the
event loop once per call (`await asyncio.sleep(0)`), as a network reply would; without
that, a whole run would be one uninterrupted step of the loop. Rows: the ticker alone
(the floor: the selector's millisecond timeout), durable runs at each concurrency, and at
the top concurrency the same runs with only a session store, and with no store, to show
what the checkpoints add. Throughput is finished runs over the row's wall time.

Part 2, suspend and resume. A second agent's tool is `@tool(requires_approval=True)`; the
model is the same instant stub (no yield here: one run at a time). Each round trip times
`runner.run` up to the suspension, then `runner.resume(run_id, decisions={id: Approve()})`
to completion, rotating over three resumers: the runner that suspended the run; a second
runner with its own `SQLiteDatabase` on the same file, opened once (a long-lived other
process); and a fresh runner opened just before (a new process: opening the database,
the stores and the `Runner` is timed as its own row, then its first call, the resume).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from _common import (
    Summary,
    Timings,
    first_paragraph,
    machine_line,
    print_table,
    summarize,
    summarize_timings,
)
from keel import (
    Agent,
    Approve,
    ModelRequest,
    ModelResponse,
    Runner,
    RunResult,
    SQLiteSessionStore,
    tool,
)
from keel.storage.sqlite import SQLiteDatabase
from loop_overhead import PROMPT, PrebuiltModel, add, durable_runner, verify

T = TypeVar("T")
TICK_S = 0.001
LAG_TARGET_MS = 2.0
IDLE = "ticker alone (no runs)"
DURABLE = "durable (SQLite run + session store)"
SESSION_ONLY = "SQLite session store, no run store"
NO_STORE = "no session store, no run store"


class InstantModel(PrebuiltModel):
    """`loop_overhead.py`'s prebuilt answers, given back after `--model-ms` (default: one
    pass of the loop). A latency is spread uniformly over 0.5x-1.5x, as real replies are;
    an exact one would make all runs wake in the same instant, a burst no server sees."""

    delay_s = 0.0
    jitter = random.Random(7)

    async def request(self, request: ModelRequest) -> ModelResponse:
        delay = self.delay_s * (0.5 + self.jitter.random()) if self.delay_s else 0.0
        await asyncio.sleep(delay)
        return await super().request(request)


@tool(name="add", requires_approval=True)
async def add_approved(a: int, b: int) -> int:
    """Add two integers (a person approves each call first)."""
    return a + b


_ids = itertools.count()


def new_session() -> str:
    return f"durable-{next(_ids)}"


# -- part 1: event-loop lag --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the lag table: `concurrency` workers on `runner` (None: ticker alone)."""

    label: str
    runner: Runner | None
    concurrency: int


@dataclass(slots=True)
class Window:
    """What one row recorded, pooled over rounds; times in ns."""

    lags: list[int] = field(default_factory=list[int])
    run_walls: list[int] = field(default_factory=list[int])
    elapsed: int = 0


async def ticker(lags: list[int], stop: asyncio.Event) -> None:
    """Sleep 1 ms at a time until `stop`; record how late each wake-up is (ns)."""
    clock = time.perf_counter_ns
    while not stop.is_set():
        due = clock() + int(TICK_S * 1e9)
        await asyncio.sleep(TICK_S)
        lags.append(clock() - due)


async def worker(runner: Runner, agent: Agent[str], deadline: int, into: list[int]) -> None:
    """Run turns back to back, each on a new session if the runner keeps sessions, until
    `deadline` (perf_counter ns)."""
    clock = time.perf_counter_ns
    while clock() < deadline:
        start = clock()
        session_id = None if runner.session_store is None else new_session()
        result = await runner.run(agent, PROMPT, session_id=session_id)
        into.append(clock() - start)
        verify(result)


async def window(row: Row, agent: Agent[str], seconds: float, into: Window | None) -> None:
    """Keep the row's runs in flight for `seconds` beside the ticker; record into `into`."""
    record = into if into is not None else Window()
    lags: list[int] = []
    stop = asyncio.Event()
    gc.collect()
    tick = asyncio.create_task(ticker(lags, stop))
    start = time.perf_counter_ns()
    deadline = start + int(seconds * 1e9)
    if row.runner is None:
        await asyncio.sleep(seconds)
    else:
        runner = row.runner
        workers = (
            worker(runner, agent, deadline, record.run_walls) for _ in range(row.concurrency)
        )
        await asyncio.gather(*workers)
    record.elapsed += time.perf_counter_ns() - start
    stop.set()
    await tick
    record.lags += lags


async def measure_lag(rows: list[Row], args: argparse.Namespace) -> dict[Row, Window]:
    """`args.rounds` rounds over every row, order rotated each round, samples pooled."""
    agent = Agent(name="calc-instant", model=InstantModel(), tools=[add])
    per_round = args.seconds / args.rounds
    pooled = {row: Window() for row in rows}
    for r in range(args.rounds):
        shift = r % len(rows)
        for row in rows[shift:] + rows[:shift]:
            await window(row, agent, min(per_round / 4, 0.5), None)  # warm-up
            await window(row, agent, per_round, pooled[row])
    return pooled


def lag_rows(tmp: Path, args: argparse.Namespace) -> tuple[list[Row], list[SQLiteDatabase]]:
    """The lag table's rows, and the databases to close afterwards."""
    durable_db, session_db = SQLiteDatabase(tmp / "lag.db"), SQLiteDatabase(tmp / "lag-s.db")
    durable = durable_runner(durable_db)
    top = args.concurrency
    rows = [Row(IDLE, None, 0)]
    rows += [Row(DURABLE, durable, n) for n in sorted({*args.sweep, top})]
    rows.append(Row(SESSION_ONLY, Runner(session_store=SQLiteSessionStore(session_db)), top))
    rows.append(Row(NO_STORE, Runner(), top))
    return rows, [durable_db, session_db]


def lag_cells(row: Row, record: Window) -> list[str]:
    ms = sorted(x / 1e6 for x in record.lags)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    lag = [f"{len(ms):,}", f"{statistics.median(ms):.2f}", f"{cuts[94]:.2f}", f"{cuts[98]:.2f}"]
    lag.append(f"{ms[-1]:.2f}")
    if row.runner is None:
        return [row.label, "", "", "", "", "", *lag]
    runs = len(record.run_walls)
    walls = summarize(row.label, record.run_walls)
    rate = runs / (record.elapsed / 1e9)
    cells = [str(row.concurrency), f"{runs:,}", f"{rate:,.0f}", f"{walls.p50_us / 1000:.1f}"]
    return [row.label, *cells, f"{walls.p95_us / 1000:.1f}", *lag]


def print_lag(rows: list[Row], pooled: dict[Row, Window], args: argparse.Namespace) -> None:
    headers = ["runs in flight (each turn = 2 model steps + 1 tool call)", "conc.", "runs"]
    headers += ["runs/s", "run p50 ms", "run p95 ms", "ticks", "lag p50 ms", "lag p95 ms"]
    headers += ["lag p99 ms", "lag max ms", "target p99", ""]
    table: list[list[str]] = []
    for row in rows:
        cells = lag_cells(row, pooled[row])
        is_target = row.label == DURABLE and row.concurrency == args.concurrency
        p99 = float(cells[-2])
        verdict = ("ok" if p99 <= LAG_TARGET_MS else "MISSED") if is_target else ""
        table.append([*cells, f"<= {LAG_TARGET_MS:g}" if is_target else "", verdict])
    print_table(headers, table)


# -- part 2: suspend and resume --------------------------------------------------------

SUSPEND = "suspend: run until it stops for approval"
RESUME_SAME = "resume, same runner"
RESUME_OTHER = "resume, second runner on its own connection"
OPEN = "open a fresh runner (SQLiteDatabase + stores + Runner)"
RESUME_FRESH = "resume, that fresh runner's first call"
RESUME_ORDER = (SUSPEND, RESUME_SAME, RESUME_OTHER, OPEN, RESUME_FRESH)


async def timed(make: Callable[[], Awaitable[T]], into: Timings | None) -> T:
    """Await `make()`; add its wall and CPU time (ns) to `into` unless None."""
    cpu_start = time.process_time_ns()
    start = time.perf_counter_ns()
    value = await make()
    end = time.perf_counter_ns()
    if into is not None:
        into.cpu.append(time.process_time_ns() - cpu_start)
        into.wall.append(end - start)
    return value


async def open_runner(path: Path, agent: Agent[str]) -> tuple[Runner, SQLiteDatabase]:
    """What another process does before it can resume: open the file, build a runner."""
    db = SQLiteDatabase(path)
    runner = durable_runner(db)
    runner.remember(agent)
    return runner, db


def check_resumed(result: RunResult[Any]) -> None:
    if result.status != "completed":
        raise AssertionError(f"resume ended {result.status!r}, not completed")
    verify(result)


@dataclass(slots=True)
class Resumers:
    """The runner that suspends every run, and a second one on its own connection."""

    path: Path
    agent: Agent[str]
    first: Runner
    second: Runner
    samples: dict[str, Timings] = field(default_factory=dict[str, Timings])

    def into(self, label: str, keep: bool) -> Timings | None:
        return self.samples.setdefault(label, Timings()) if keep else None

    async def suspend(self, keep: bool) -> RunResult[str]:
        run = self.first.run
        result = await timed(
            lambda: run(self.agent, PROMPT, session_id=new_session()), self.into(SUSPEND, keep)
        )
        if result.status != "suspended" or len(result.pending) != 1:
            raise AssertionError(f"run ended {result.status!r} with {result.pending!r}")
        return result

    async def resume(self, suspended: RunResult[str], kind: int, keep: bool) -> None:
        """Resume with Approve on the resumer `kind` picks (0 same, 1 second, 2 fresh)."""
        decisions = {suspended.pending[0].id: Approve()}
        db: SQLiteDatabase | None = None
        runner, label = (self.first, RESUME_SAME) if kind == 0 else (self.second, RESUME_OTHER)
        if kind == 2:
            opened = await timed(lambda: open_runner(self.path, self.agent), self.into(OPEN, keep))
            (runner, db), label = opened, RESUME_FRESH
        resume, run_id = runner.resume, suspended.run_id
        result = await timed(lambda: resume(run_id, decisions=decisions), self.into(label, keep))
        check_resumed(result)
        if db is not None:
            db.close()


async def measure_resume(tmp: Path, args: argparse.Namespace) -> dict[str, Timings]:
    """Suspend, then resume, `args.warmup` untimed and `args.resumes` timed times."""
    path = tmp / "resume.db"
    agent = Agent(name="calc-approval", model=PrebuiltModel(), tools=[add_approved])
    first, first_db = await open_runner(path, agent)
    second, second_db = await open_runner(path, agent)
    resumers = Resumers(path, agent, first, second)
    try:
        for i in range(args.warmup + args.resumes):
            if i == args.warmup:
                gc.collect()
            keep = i >= args.warmup
            suspended = await resumers.suspend(keep)
            await resumers.resume(suspended, i % 3, keep)
    finally:
        first_db.close()
        second_db.close()
    return resumers.samples


def print_resume(samples: dict[str, Timings]) -> None:
    headers = ["call (durable runner, SQLite file)", "runs", "p50 µs", "p95 µs", "p99 µs"]
    headers.append("CPU p50 µs")
    rows: list[list[str]] = []
    for label in RESUME_ORDER:
        s: Summary = summarize_timings(label, samples[label])
        cells = [f"{s.runs:,}", f"{s.p50_us:,.1f}", f"{s.p95_us:,.1f}", f"{s.p99_us:,.1f}"]
        rows.append([s.label, *cells, f"{s.cpu_p50_us or 0.0:,.1f}"])
    print_table(headers, rows)


# -- main ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--concurrency", type=int, default=200, help="runs in flight")
    parser.add_argument("--sweep", type=int, nargs="*", default=[1, 20], help="more levels")
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per row")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (part 1)")
    parser.add_argument("--resumes", type=int, default=1500, help="timed round trips")
    parser.add_argument("--warmup", type=int, default=150, help="untimed round trips")
    parser.add_argument(
        "--model-ms",
        type=float,
        default=0.0,
        help="model latency in the lag rows (0: answers at once, so the loop is saturated "
        "and lag measures throughput; a realistic latency leaves lag to blocking calls)",
    )
    args = parser.parse_args()
    InstantModel.delay_s = args.model_ms / 1000
    return args


async def run_all(tmp: Path, args: argparse.Namespace) -> None:
    rows, dbs = lag_rows(tmp, args)
    try:
        pooled = await measure_lag(rows, args)
    finally:
        for db in dbs:
            db.close()
    resumes = await measure_resume(tmp, args)
    print(machine_line())
    print(f"\nEvent-loop lag: a 1 ms ticker beside N runs always in flight; {args.seconds:g} s")
    print(f"model latency {args.model_ms:g} ms a call;", end=" ")
    print(
        f"per row in {args.rounds} rotated rounds; run = one turn's wall time, queueing included\n"
    )
    print_lag(rows, pooled, args)
    print(f"\nSuspend and resume: {args.resumes:,} timed round trips after {args.warmup:,}")
    print("untimed; the three resumers take turns (a third of the round trips each)\n")
    print_resume(resumes)


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run_all(Path(tmp), args))


if __name__ == "__main__":
    main()
