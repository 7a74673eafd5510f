"""Memory benchmarks: turn cost against conversation length (SQLite sessions), and the
cost of building context (SessionWindow + Instructions) per turn.

    python benchmarks/memory.py [--turns 500] [--conversations 3] [--window 10]

Each conversation is `--turns` turns of the loop benchmark's agent (a prebuilt model and
one tool call: 4 messages a turn) on one SQLite session. Turn cost is reported for the
first and last `--window` turns, with the decoded-history cache and — in the same run,
interleaved by conversation — without it (the cache size set to 0: every load decodes
and validates the whole history, as before the cache). Ratios, not absolute figures,
are what compare across a busy machine.

Context building: the same conversations with `SessionWindow(max_tokens=2000)` (an
instant scripted summarizer and SQLite summary store, so the figure is Keel's own work,
not a model's) and an `Instructions` provider, against none.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from _common import first_paragraph, machine_line, print_table
from keel import Agent, Message, Runner, SQLiteSessionStore
from keel.memory import Instructions, SessionWindow, SQLiteSummaryStore
from keel.storage import SQLiteDatabase, sqlite_sessions
from loop_overhead import PROMPT, make_agent


class InstantSummarizer:
    async def summarize(self, previous: str, messages: Sequence[Message]) -> str:
        return (previous + f" {len(messages)} messages about sums.").strip()


def agent_for(path: Path, context: bool) -> Agent[str]:
    agent = make_agent()
    if not context:
        return agent
    window = SessionWindow(
        max_tokens=2_000,
        summarizer=InstantSummarizer(),
        summaries=SQLiteSummaryStore(SQLiteDatabase(path)),
    )
    layers = [window, Instructions(lambda ctx: f"The user is {ctx.principal.user_id}.")]
    return replace(agent, middleware=layers)


async def conversation(path: Path, turns: int, cached: bool, context: bool = False) -> list[float]:
    """Per-turn wall times in µs of one conversation of `turns` turns."""
    sqlite_sessions.CACHED_SESSIONS = 512 if cached else 0
    store = SQLiteSessionStore(path)
    runner, agent = Runner(session_store=store), agent_for(path, context)
    times: list[float] = []
    for _ in range(turns):
        start = time.perf_counter_ns()
        await runner.run(agent, PROMPT, session_id="conversation")
        times.append((time.perf_counter_ns() - start) / 1000)
    store.close()
    return times


async def main(turns: int, conversations: int, window: int) -> None:
    print(machine_line())
    labels = {
        (True, False): "history cache on",
        (False, False): "history cache off (before)",
        (True, True): "cache on + SessionWindow + Instructions",
    }
    samples: dict[tuple[bool, bool], list[list[float]]] = {key: [] for key in labels}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(conversations):
            for cached, context in labels:
                path = Path(tmp) / f"c{i}-{cached}-{context}.db"
                samples[(cached, context)].append(await conversation(path, turns, cached, context))
    rows: list[list[str]] = []
    for key, runs in samples.items():
        first = statistics.median(t for run in runs for t in run[1 : window + 1])
        last = statistics.median(t for run in runs for t in run[-window:])
        rows.append([labels[key], f"{first:,.0f}", f"{last:,.0f}", f"{last / first:.2f}x"])
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
