"""Keel's own cost per turn: one `Runner.run` = two model steps and one tool call.

    python benchmarks/loop_overhead.py [--runs 6000] [--warmup 500] [--depth 20] [--rounds 3]

The model is a stub that hands back one of two prebuilt `ModelResponse`s (a tool call
when the last message is not a tool result, else the final answer; ~0.2 µs a step), so
what is timed is Keel: requests, events, hooks, validating and running the (async) tool,
and the session store. Scenarios:

* no session: `runner.run(agent, prompt)`, no session store and no run store (the run
  is kept nowhere); and the same with the tool written as a plain `def`, which Keel runs
  in a worker thread by default (`run_in_thread=True`);
* in-memory / SQLite store, new session per run: every run gets a fresh session id, the
  realistic first turn of a new conversation (session lookup, nothing to load, append);
* durable: the same with a `SQLiteRunStore` too, both stores on one `SQLiteDatabase`, so
  the run is checkpointed at every step boundary (start, model answer, before and after
  the tool call, model answer, end: one INSERT and three UPDATEs, the last in one
  transaction with the session append);
* SQLite, turn N of a conversation: conversations of `--depth` turns, so turn N loads and
  validates 4*(N-1) stored messages; a second table shows the growth turn by turn, with
  the same conversations in an in-memory store to separate storage from loop cost;
* bare Python loop: the same work shape (two awaited model calls, one awaited tool call,
  a list of dict messages) without a framework, for scale.

Other work on a small machine moves the figures, so the scenarios take turns: `--rounds`
rounds (order rotated each round), each timing every scenario for runs/rounds turns after
`--warmup` untimed ones; samples are pooled. The SQLite files live in a temporary folder.
Each turn is sampled on the wall clock and as the process's CPU time (see `_common`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from _common import (
    Summary,
    Timings,
    first_paragraph,
    machine_line,
    print_table,
    summarize,
    summarize_timings,
    time_async,
)
from keel import (
    Agent,
    InMemorySessionStore,
    Message,
    ModelRequest,
    ModelResponse,
    Runner,
    RunResult,
    SQLiteRunStore,
    SQLiteSessionStore,
    ToolCallPart,
    Usage,
    tool,
)
from keel.models.base import ModelStreamEvent
from keel.storage.sqlite import SQLiteDatabase

PROMPT = "What is 1 + 2?"
ANSWER = "1 + 2 = 3"
NO_SESSION = "keel, no session, no run store"
SYNC_TOOL = "keel, no session, sync `def` tool (worker thread)"
IN_MEMORY = "keel, in-memory store, new session per run"
SQLITE = "keel, SQLite, new session per run"
DURABLE = "keel, durable SQLite run store (checkpoints), new session per run"
BARE = "bare Python loop (same shape)"
ORDER = (NO_SESSION, SYNC_TOOL, IN_MEMORY, SQLITE, DURABLE, BARE)
TARGETS_US = {NO_SESSION: 40.0, SQLITE: 1000.0, DURABLE: 300.0}
DEEP_TARGET_US = 1000.0
Samples = dict[str, Timings]
"""Scenario label -> per-turn wall and CPU times in ns, pooled over rounds."""


@tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool(name="add")
def add_sync(a: int, b: int) -> int:
    """Add two integers (a plain function: Keel runs it in a worker thread by default)."""
    return a + b


class PrebuiltModel:
    """A `Model` whose every answer is a prebuilt object: near-zero cost per step."""

    def __init__(self) -> None:
        call = ToolCallPart("add", {"a": 1, "b": 2}, "call_1")
        usage = Usage(requests=1, input_tokens=10, output_tokens=5)
        self._tool_call = ModelResponse(Message.assistant(tool_calls=[call]), usage, "stub")
        self._answer = ModelResponse(Message.assistant(ANSWER), usage, "stub", "stop")

    @property
    def name(self) -> str:
        return "stub"

    @property
    def provider(self) -> str:
        return "test"

    async def request(self, request: ModelRequest) -> ModelResponse:
        last = request.messages[-1]
        return self._answer if last.role == "tool" else self._tool_call

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        yield await self.request(request)


def make_agent(*, sync_tool: bool = False) -> Agent[str]:
    return Agent(name="calc", model=PrebuiltModel(), tools=[add_sync if sync_tool else add])


def verify(result: object) -> None:
    """Fail loudly if a scenario's turn is not what the figures claim it is."""
    if isinstance(result, RunResult):
        run = cast("RunResult[str]", result)
        shape: object = (run.output, run.steps, run.usage.tool_calls, len(run.new_messages))
        ok = shape == (ANSWER, 2, 1, 4)  # output, model steps, tool calls, new messages
    else:
        shape, ok = result, result == ANSWER
    if not ok:
        raise AssertionError(f"unexpected turn: {shape!r}")


# -- the bare loop ----------------------------------------------------------------------


async def bare_model(messages: list[dict[str, Any]]) -> dict[str, Any]:
    if messages[-1]["role"] == "tool":
        return {"role": "assistant", "content": ANSWER, "tool_calls": []}
    call = {"id": "call_1", "name": "add", "arguments": {"a": 1, "b": 2}}
    return {"role": "assistant", "content": "", "tool_calls": [call]}


BARE_TOOLS: dict[str, Callable[..., Awaitable[Any]]] = {"add": add.function}


async def bare_turn(prompt: str) -> str:
    """The same work shape as a Keel turn, as a plain loop over dict messages."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    reply = await bare_model(messages)
    while reply["tool_calls"]:
        messages.append(reply)
        for call in reply["tool_calls"]:
            value = await BARE_TOOLS[call["name"]](**call["arguments"])
            messages.append({"role": "tool", "id": call["id"], "content": str(value)})
        reply = await bare_model(messages)
    messages.append(reply)
    return reply["content"]


# -- scenarios ------------------------------------------------------------------------

_ids = itertools.count()  # session ids never repeat, across rounds and scenarios


def new_session() -> str:
    return f"conv-{next(_ids)}"


def durable_runner(db: SQLiteDatabase) -> Runner:
    """A runner whose runs are checkpointed: run store and session store on one database."""
    return Runner(run_store=SQLiteRunStore(db), session_store=SQLiteSessionStore(db))


def turn_scenarios(sqlite: Runner, durable: Runner) -> dict[str, Callable[[], Awaitable[object]]]:
    """The main table's turns, built anew each round (so a fresh in-memory store)."""
    agent, plain = make_agent(), Runner()
    sync_agent = make_agent(sync_tool=True)
    memory = Runner(session_store=InMemorySessionStore())
    return {
        NO_SESSION: lambda: plain.run(agent, PROMPT),
        SYNC_TOOL: lambda: plain.run(sync_agent, PROMPT),
        IN_MEMORY: lambda: memory.run(agent, PROMPT, session_id=new_session()),
        SQLITE: lambda: sqlite.run(agent, PROMPT, session_id=new_session()),
        DURABLE: lambda: durable.run(agent, PROMPT, session_id=new_session()),
        BARE: lambda: bare_turn(PROMPT),
    }


async def verify_durable(durable: Runner) -> None:
    """A durable turn must leave its run stored as completed, else nothing was kept."""
    result = await durable.run(make_agent(), PROMPT, session_id=new_session())
    verify(result)
    stored = await durable.get_run(result.run_id)
    if stored.status != "completed" or stored.output != ANSWER:
        raise AssertionError(f"durable run stored as {stored.status!r}: {stored.output!r}")


async def conversations(runner: Runner, count: int, depth: int) -> list[list[int]]:
    """Time `count` conversations of `depth` turns; result[d] holds turn d+1 (ns).

    Timed turn by turn with one garbage collection up front: collecting before every
    conversation would empty the interpreter's free lists and slow each first turn.
    """
    agent = make_agent()
    per_depth: list[list[int]] = [[] for _ in range(depth)]
    gc.collect()
    clock = time.perf_counter_ns
    for _ in range(count):
        session_id = new_session()
        for turn in per_depth:
            start = clock()
            await runner.run(agent, PROMPT, session_id=session_id)
            turn.append(clock() - start)
    return per_depth


@dataclass(frozen=True, slots=True)
class Growth:
    """Per-turn samples (ns) of deep conversations: `sqlite[d]` holds turn d+1."""

    sqlite: list[list[int]]
    memory: list[list[int]]

    async def add_round(self, sqlite: Runner, count: int) -> None:
        """`count` conversations in SQLite, then in a fresh in-memory store."""
        memory = Runner(session_store=InMemorySessionStore())
        for runner, into in ((sqlite, self.sqlite), (memory, self.memory)):
            await conversations(runner, 2, len(into))  # warm-up
            timed = await conversations(runner, count, len(into))
            for turn, samples in zip(into, timed, strict=True):
                turn.extend(samples)


# -- measuring --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stores:
    """The SQLite-backed runners of the main table, shared by every round."""

    sqlite: Runner
    durable: Runner


async def turn_round(stores: Stores, runs: int, warmup: int, shift: int, into: Samples) -> None:
    """One round of the main table's scenarios, in an order rotated by `shift`."""
    turns = list(turn_scenarios(stores.sqlite, stores.durable).items())
    shift %= len(turns)
    for label, turn in turns[shift:] + turns[:shift]:
        verify(await turn())
        into[label].extend(await time_async(lambda _, t=turn: t(), runs=runs, warmup=warmup))


async def measure(args: argparse.Namespace, tmp: Path) -> tuple[Samples, Growth]:
    """`args.rounds` interleaved rounds of every scenario, samples pooled."""
    per_round = max(args.runs // args.rounds, 2)
    count = max(args.runs // args.depth // args.rounds, 1)
    pooled: Samples = defaultdict(Timings)
    growth = Growth([[] for _ in range(args.depth)], [[] for _ in range(args.depth)])
    fresh, deep = SQLiteSessionStore(tmp / "fresh.db"), SQLiteSessionStore(tmp / "deep.db")
    durable_db = SQLiteDatabase(tmp / "durable.db")
    stores = Stores(Runner(session_store=fresh), durable_runner(durable_db))
    try:
        await verify_durable(stores.durable)
        for r in range(args.rounds):
            await turn_round(stores, per_round, args.warmup, r, pooled)
            await growth.add_round(Runner(session_store=deep), count)
    finally:
        for db in (fresh.db, deep.db, durable_db):
            db.close()
    return pooled, growth


# -- report ---------------------------------------------------------------------------


def main_row(s: Summary, bare: Summary, target: float | None) -> list[str]:
    verdict = "" if target is None else ("ok" if s.p50_us <= target else "MISSED")
    goal = "" if target is None else f"<= {target:,.0f}"
    cells = [f"{s.runs:,}", f"{s.p50_us:,.1f}", f"{s.p95_us:,.1f}", f"{s.p99_us:,.1f}"]
    cpu = "" if s.cpu_p50_us is None else f"{s.cpu_p50_us:,.1f}"
    return [s.label, *cells, cpu, f"{s.p50_us / bare.p50_us:.0f}x", goal, verdict]


def print_main(pooled: Samples, growth: Growth) -> None:
    deep = f"keel, SQLite, turn {len(growth.sqlite)} of a conversation"
    rows = [(summarize_timings(label, pooled[label]), TARGETS_US.get(label)) for label in ORDER]
    rows.insert(-1, (summarize(deep, growth.sqlite[-1]), DEEP_TARGET_US))
    bare = rows[-1][0]
    headers = ["scenario (one turn = 2 model steps + 1 tool call)", "runs", "p50 µs", "p95 µs"]
    headers += ["p99 µs", "CPU p50 µs", "p50 / bare", "target p50", ""]
    print_table(headers, [main_row(s, bare, target) for s, target in rows])


def print_growth(growth: Growth) -> None:
    sqlite, memory = growth.sqlite, growth.memory
    headers = ["turn of conversation", "history msgs", "SQLite p50 µs", "SQLite p95 µs"]
    headers += ["in-memory p50 µs", "SQLite - in-memory"]
    rows: list[list[str]] = []
    for d in sorted({d for d in (1, 2, 5, 10, 15, len(sqlite)) if d <= len(sqlite)}):
        s, m = summarize("", sqlite[d - 1]), summarize("", memory[d - 1])
        sqlite_cells = [f"{s.p50_us:,.1f}", f"{s.p95_us:,.1f}"]
        memory_cells = [f"{m.p50_us:,.1f}", f"{s.p50_us - m.p50_us:,.1f}"]
        rows.append([f"turn {d}", str(4 * (d - 1)), *sqlite_cells, *memory_cells])
    print_table(headers, rows)


def report(args: argparse.Namespace, pooled: Samples, growth: Growth) -> None:
    depth, count = args.depth, len(growth.sqlite[0])
    print(machine_line())
    print(f"{args.rounds} interleaved rounds; per round and scenario {args.warmup:,} warm-up")
    print(f"runs, then {args.runs // args.rounds:,} timed runs\n")
    print_main(pooled, growth)
    print("\nCPU p50: median CPU time of the process per turn (all threads), beside wall p50")
    print(f"\nHistory growth: {count:,} conversations of {depth} turns each, SQLite store")
    print(f"and in-memory store (SQLite turn {depth} is the main table's turn-{depth} row)\n")
    print_growth(growth)
    whole = statistics.fmean(sum(turns) for turns in zip(*growth.sqlite, strict=True))
    print(f"\nmean wall time of a whole {depth}-turn SQLite conversation: {whole / 1e6:.2f} ms")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--runs", type=int, default=6000, help="timed turns per scenario")
    parser.add_argument("--warmup", type=int, default=500, help="untimed turns per round")
    parser.add_argument("--depth", type=int, default=20, help="turns per deep conversation")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pooled, growth = asyncio.run(measure(args, Path(tmp)))
    report(args, pooled, growth)


if __name__ == "__main__":
    main()
