"""Where a Keel turn spends its time: cProfile over many turns of `loop_overhead.py`.

    python benchmarks/profile_turn.py [--scenario none|sqlite|durable|deep] [--runs 3000]
                                      [--top 25] [--sort tottime|cumtime] [--pyinstrument]

Scenarios: `none` (no session), `sqlite` (SQLite store, new session per run), `durable`
(the same plus a `SQLiteRunStore` on the same database: checkpoints), `deep` (SQLite,
conversations of 20 turns). Figures are per turn, in µs *under the profiler*,
which inflates small Python functions several times over: read them as shares, and
time changes with `loop_overhead.py`. Two tables: every function, then Keel's only.
`--pyinstrument` prints pyinstrument's sampled call tree instead (less distortion of
small functions; `pip install pyinstrument` first, it is not a Keel dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import pstats
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import first_paragraph, machine_line, print_table
from keel import Runner, SQLiteRunStore, SQLiteSessionStore
from loop_overhead import PROMPT, make_agent

DEPTH = 20
# pstats' internal table: (file, line, function) -> (calls, ncalls, tottime, cumtime, callers)
StatsTable = dict[tuple[str, int, str], tuple[int, int, float, float, Any]]


def turn_function(scenario: str, store: SQLiteSessionStore) -> Callable[[int], Awaitable[object]]:
    """The scenario's turn, as a function of the turn's index."""
    agent = make_agent()
    if scenario == "none":
        runner = Runner()
        return lambda _: runner.run(agent, PROMPT)
    runs = SQLiteRunStore(store.db) if scenario == "durable" else None
    runner = Runner(session_store=store, run_store=runs)
    if scenario in ("sqlite", "durable"):
        return lambda i: runner.run(agent, PROMPT, session_id=f"s-{i}")
    return lambda i: runner.run(agent, PROMPT, session_id=f"deep-{i // DEPTH}")


async def profile(scenario: str, runs: int, store: SQLiteSessionStore) -> cProfile.Profile:
    turn = turn_function(scenario, store)
    warmup = max(runs // 10 // DEPTH, 1) * DEPTH  # whole conversations in `deep`
    for i in range(warmup):
        await turn(i)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(warmup, warmup + runs):
        await turn(i)
    profiler.disable()
    return profiler


async def sample(scenario: str, runs: int, store: SQLiteSessionStore) -> str:
    """pyinstrument's call tree over `runs` turns, sampling every 0.1 ms."""
    try:
        pyinstrument: Any = importlib.import_module("pyinstrument")
    except ImportError:
        raise SystemExit("--pyinstrument needs pyinstrument: pip install pyinstrument") from None
    turn = turn_function(scenario, store)
    warmup = max(runs // 10 // DEPTH, 1) * DEPTH
    for i in range(warmup):
        await turn(i)
    profiler = pyinstrument.Profiler(interval=0.0001, async_mode="disabled")
    profiler.start()
    for i in range(warmup, warmup + runs):
        await turn(i)
    profiler.stop()
    return str(profiler.output_text(unicode=True, color=False))


def short(path: str) -> str:
    """`.../site-packages/pydantic/main.py` -> `pydantic/main.py`; `src/keel/...` likewise."""
    for marker in ("/site-packages/", "/src/", "/lib/python3."):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3." else tail
    return path


def rows(table: StatsTable, runs: int, top: int, sort: str, only: str) -> list[list[str]]:
    key = 2 if sort == "tottime" else 3
    picked = [(k, v) for k, v in table.items() if only in k[0]]
    picked.sort(key=lambda item: item[1][key], reverse=True)
    out: list[list[str]] = []
    for (path, line, name), (_, ncalls, tottime, cumtime, _) in picked[:top]:
        where = f"{short(path)}:{line} {name}" if line else name
        per = [f"{ncalls / runs:.1f}", f"{tottime * 1e6 / runs:.1f}"]
        out.append([where, *per, f"{cumtime * 1e6 / runs:.1f}"])
    return out


def report(profiler: cProfile.Profile, args: argparse.Namespace) -> None:
    stats = pstats.Stats(profiler)
    table: StatsTable = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in table.values()) * 1e6 / args.runs
    keel = sum(v[2] for k, v in table.items() if "/keel/" in k[0]) * 1e6 / args.runs
    print(f"{machine_line()}; scenario {args.scenario!r}, {args.runs:,} profiled turns")
    print(f"under cProfile: {total:.0f} µs per turn, {keel:.0f} µs of it in Keel's own code")
    headers = ["function", "calls/turn", "tottime µs/turn", "cumtime µs/turn"]
    for title, only in (("All code", ""), ("Keel's code only", "/keel/")):
        print(f"\n{title}, top {args.top} by {args.sort}:\n")
        print_table(headers, rows(table, args.runs, args.top, args.sort, only))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--scenario", choices=("none", "sqlite", "durable", "deep"), default="none")
    parser.add_argument("--runs", type=int, default=3000, help="profiled turns")
    parser.add_argument("--top", type=int, default=25, help="functions per table")
    parser.add_argument("--sort", choices=("tottime", "cumtime"), default="tottime")
    parser.add_argument("--pyinstrument", action="store_true", help="sample with pyinstrument")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteSessionStore(Path(tmp) / "profile.db")
        try:
            if args.pyinstrument:
                print(machine_line())
                print(asyncio.run(sample(args.scenario, args.runs, store)))
                return
            profiler = asyncio.run(profile(args.scenario, args.runs, store))
        finally:
            store.close()
    report(profiler, args)


if __name__ == "__main__":
    main()
