"""Memory benchmarks: turn cost against conversation length (SQLite sessions).

    python benchmarks/memory.py [--turns 500] [--conversations 3] [--window 10]

Each conversation is `--turns` turns of the loop benchmark's agent (a prebuilt model and
one tool call: 4 messages a turn) on one SQLite session. Turn cost is reported for the
first and last `--window` turns, with the decoded-history cache and — in the same run,
interleaved by conversation — without it (the cache size set to 0: every load decodes
and validates the whole history, as before the cache). Ratios, not absolute figures,
are what compare across a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from _common import first_paragraph, machine_line, print_table
from keel import Runner, SQLiteSessionStore
from keel.storage import sqlite_sessions
from loop_overhead import PROMPT, make_agent


async def conversation(path: Path, turns: int, cached: bool) -> list[float]:
    """Per-turn wall times in µs of one conversation of `turns` turns."""
    sqlite_sessions.CACHED_SESSIONS = 512 if cached else 0
    store = SQLiteSessionStore(path)
    runner, agent = Runner(session_store=store), make_agent()
    times: list[float] = []
    for _ in range(turns):
        start = time.perf_counter_ns()
        await runner.run(agent, PROMPT, session_id="conversation")
        times.append((time.perf_counter_ns() - start) / 1000)
    store.close()
    return times


async def main(turns: int, conversations: int, window: int) -> None:
    print(machine_line())
    samples: dict[bool, list[list[float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(conversations):
            for cached in (True, False):
                path = Path(tmp) / f"c{i}-{cached}.db"
                samples[cached].append(await conversation(path, turns, cached))
    rows: list[list[str]] = []
    for cached, runs in samples.items():
        first = statistics.median(t for run in runs for t in run[1 : window + 1])
        last = statistics.median(t for run in runs for t in run[-window:])
        label = "history cache on" if cached else "history cache off (before)"
        rows.append([label, f"{first:,.0f}", f"{last:,.0f}", f"{last / first:.2f}x"])
    print(f"\n{conversations} conversations of {turns} turns; medians of turns 2-{window + 1}")
    print(f"and of the last {window} turns (turn {turns} holds {4 * (turns - 1)} messages)")
    print_table(["store", "early turn µs", f"turn ~{turns} µs", "late / early"], rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--conversations", type=int, default=3)
    parser.add_argument("--window", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.conversations, args.window))
