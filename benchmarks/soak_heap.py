"""The soak's Python heap by request count, not by time: is anything kept per request?

    .venv/bin/python benchmarks/soak_heap.py [--workload growing|rolling]
        [--requests 10000] [--every 1000] [--cached-messages 2000] [--tracemalloc]

`benchmarks/soak.py` needs ten quiet minutes; this companion does not depend on the
machine's load. It serves the same app (`benchmarks/server_app.py`) in-process, through
httpx's ASGI transport (the routes, auth, admission, run loop, stores and telemetry; not
uvicorn), sends the soak's workload with 4 requests at a time, and after every `--every`
requests collects garbage and prints the live Python blocks, pymalloc's arenas and bytes
in use, glibc's heap in use, the gc-tracked objects and the history cache's fill. The
history cache's message bound is lowered (`--cached-messages`) so that it is reached
early: after it, a structure kept per request or per session shows as a count that keeps
rising; a bounded one stays level. `--tracemalloc` adds the 5 allocation sites that grew
most from the first checkpoint after the bound to the last (pymalloc's columns then read
0: tracemalloc's hooks hide its statistics).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks._common import first_paragraph, machine_line
from benchmarks.soak import Workload, turns, workload
from benchmarks.soak_probe import cache_fill, malloc_stats, pymalloc_stats


async def _drive(args: argparse.Namespace) -> list[tracemalloc.Snapshot]:
    from benchmarks.server_app import app

    from keel.server.app import create_server

    api, sessions = create_server(app), workload(args)
    snapshots: list[tracemalloc.Snapshot] = []
    transport = httpx.ASGITransport(app=api)
    async with api.router.lifespan_context(api), httpx.AsyncClient(
        transport=transport, base_url="http://soak"
    ) as client:  # fmt: skip
        for start in range(0, args.requests, args.every):
            await _batch(client, sessions, range(start, start + args.every))
            at_bound = _checkpoint(start + args.every, app.session_store)
            if args.tracemalloc and at_bound:
                snapshots.append(tracemalloc.take_snapshot())
    return snapshots


async def _batch(client: httpx.AsyncClient, sessions: Workload, numbers: range) -> None:
    gate = asyncio.Semaphore(4)

    async def one(session: str) -> None:
        async with gate:
            reply = await client.post(f"/sessions/{session}/messages", json={"input": "hi"})
            if reply.status_code != 200:
                raise SystemExit(f"{session}: {reply.status_code} {reply.text}")

    await asyncio.gather(*(one(sessions.session(i)) for i in numbers))


def _checkpoint(sent: int, store: object) -> bool:
    gc.collect()
    arenas, malloc, cache = pymalloc_stats(), malloc_stats(), cache_fill(store) or {}
    print(
        f"{sent:>7,} {sys.getallocatedblocks():>9,} {arenas.get('arenas_current', 0):>6} "
        f"{arenas.get('bytes_in_use', 0) // 1024:>9,} {malloc.get('in_use', 0):>9,} "
        f"{len(gc.get_objects()):>9,} {cache.get('sessions', 0):>8} "
        f"{cache.get('messages', 0):>8,} {cache.get('evicted', 0):>8,}",
        flush=True,
    )
    return bool(cache.get("at_bound"))


def _grown(snapshots: list[tracemalloc.Snapshot]) -> None:
    if len(snapshots) < 2:
        print("tracemalloc: the cache reached its bound too late to compare")
        return
    print("allocation sites grown most between the first and last checkpoint at the bound:")
    for stat in snapshots[-1].compare_to(snapshots[0], "lineno")[:5]:
        print(f"  {stat}")


def main() -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--workload", choices=("growing", "rolling"), default="growing")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=1_000)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--turns", type=turns, default=(10, 20), help="rolling: LOW-HIGH")
    parser.add_argument("--cached-messages", type=int, default=2_000)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="keel-soak-heap-") as home:
        os.environ["KEEL_HOME"] = home
        _run(args)


def _run(args: argparse.Namespace) -> None:
    from keel.storage import sqlite_sessions

    sqlite_sessions.CACHED_MESSAGES = args.cached_messages
    if args.tracemalloc:
        tracemalloc.start(8)
    print(machine_line())
    print(f"workload {args.workload}, history cache bound lowered to {args.cached_messages:,}")
    print("   sent  pyblocks arenas pymal-KiB glibc-KiB gc-objects sessions messages  evicted")
    snapshots = asyncio.run(_drive(args))
    if args.tracemalloc:
        _grown(snapshots)


if __name__ == "__main__":
    main()
