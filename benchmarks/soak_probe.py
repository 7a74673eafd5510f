"""Inside the served app during a soak: where does the memory go? (`benchmarks/soak.py`)

`benchmarks/server_app.py` starts `start(app, directory)` when `KEEL_SOAK_PROBE` names a
directory. A daemon thread then appends one JSON line to `probe.jsonl` there every
`every_s` seconds, with the figures that tell the candidates apart:

- RSS and `/proc/self/smaps_rollup` (anonymous memory: the heaps, not mapped files);
- `sys.getallocatedblocks()` (live pymalloc + raw Python blocks: a Python-level leak
  raises it for ever; a bounded cache stops raising it once full);
- pymalloc's arenas from `sys._debugmallocstats()` (arenas held vs bytes in use: a flat
  "in use" beside growing arenas is fragmentation, not a leak);
- glibc's heap (`mallinfo2`): in use vs freed-but-kept, for allocations pymalloc does
  not serve (C libraries, Python objects over 512 bytes);
- gc generation counts and collections. Not `gc.get_objects()`: its list keeps every
  object alive while this thread counts them, a sqlite3 cursor included, and a COMMIT
  on the event loop then failed with "SQL statements in progress" (a 20/s rolling soak,
  after ~5,400 requests). `benchmarks/soak_heap.py` counts types, in one thread;
- SQLite's own heap (`sqlite3_memory_used`, its page caches included);
- the SQLite session store's history cache fill (sessions, messages), so the reader sees
  when it reached its bound.

With `KEEL_SOAK_TRACEMALLOC=1` it also starts `tracemalloc` and dumps a snapshot at each
of `KEEL_SOAK_SNAPSHOTS` (seconds, comma-separated) as `snapshot-<t>.pickle`, to diff
offline (`tracemalloc.Snapshot.load(...).compare_to(...)`).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

__all__ = ["cache_fill", "malloc_stats", "pymalloc_stats", "start"]

_ARENA_FIELDS = {
    "# arenas allocated total": "arenas_total",
    "# arenas reclaimed": "arenas_reclaimed",
    "# arenas highwater mark": "arenas_highwater",
    "# arenas allocated current": "arenas_current",
    "# bytes in allocated blocks": "bytes_in_use",
    "# bytes in available blocks": "bytes_free_in_pools",
    "# bytes lost to pool headers": "pool_headers",
    "# bytes lost to quantization": "quantization",
    "Total": "pymalloc_total",
}


def cache_fill(store: Any) -> dict[str, Any] | None:
    """A `SQLiteSessionStore`'s history cache: its fill, its bounds, and whether it has
    reached them (dropped a history to stay within them); None for other stores."""
    from keel.storage import sqlite_sessions

    if not isinstance(store, sqlite_sessions.SQLiteSessionStore):
        return None
    fill = store.cache_fill()
    return {
        "sessions": fill.sessions, "messages": fill.messages, "chars": fill.chars,
        "evicted": fill.evicted, "at_bound": fill.evicted > 0,
        "max_sessions": sqlite_sessions.CACHED_SESSIONS,
        "max_messages": sqlite_sessions.CACHED_MESSAGES,
        "max_chars": sqlite_sessions.CACHED_CHARS,
    }  # fmt: skip


def pymalloc_stats() -> dict[str, int]:
    """The arena totals of `sys._debugmallocstats()`, which writes to C stderr (fd 2)."""
    with tempfile.TemporaryFile(mode="w+b") as out:
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode(errors="replace")
    stats: dict[str, int] = {}
    for line in text.splitlines():
        label, _, value = line.partition("=")
        name = _ARENA_FIELDS.get(label.strip())
        if name and name not in stats and value.strip():  # the first "Total": arenas'
            stats[name] = int(value.strip().replace(",", ""))
    return stats


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


def malloc_stats() -> dict[str, int]:
    """glibc's heap (`mallinfo2`, every arena), KiB: what C and large Python objects hold
    (`in_use`), what the allocator keeps freed but not returned (`free`), and mmapped
    blocks. Growth in `free` beside a flat `in_use` is fragmentation, not a leak."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):  # not glibc, or older than 2.33
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {
        "heap": info.arena // 1024, "in_use": info.uordblks // 1024,
        "free": info.fordblks // 1024, "mmapped": info.hblkhd // 1024,
    }  # fmt: skip


def _sqlite_kib() -> int:
    """SQLite's own heap (page caches included), from the library `_sqlite3` uses."""
    used = ctypes.CDLL("libsqlite3.so.0").sqlite3_memory_used
    used.restype = ctypes.c_int64
    return used() // 1024


def _smaps() -> dict[str, int]:
    text = Path("/proc/self/smaps_rollup").read_text()
    wanted = ("Rss", "Anonymous", "Private_Dirty")
    found = re.findall(r"^(\w+):\s+(\d+) kB", text, re.MULTILINE)
    return {k: int(v) for k, v in found if k in wanted}


def _sample(started: float, store: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "t": round(time.monotonic() - started, 1),
        "wall": time.time(),
        "sqlite_kib": _sqlite_kib(),
        "smaps_kib": _smaps(),
        "allocated_blocks": sys.getallocatedblocks(),
        "gc_count": gc.get_count(),
        "gc_collections": [s["collections"] for s in gc.get_stats()],
        "cache": cache_fill(store),
        "pymalloc": pymalloc_stats(),
        "malloc_kib": malloc_stats(),
    }
    if tracemalloc.is_tracing():  # live now, and the most at once since the last sample
        live, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        row["tracemalloc_kib"] = {"live": live // 1024, "peak": peak // 1024}
    return row


def _loop(app: Any, directory: Path, every_s: float, snapshots: list[float]) -> None:
    started = time.monotonic()
    with (directory / "probe.jsonl").open("a") as log:
        while True:
            row = _sample(started, app.session_store)
            log.write(json.dumps(row) + "\n")
            log.flush()
            while snapshots and row["t"] >= snapshots[0]:
                at = snapshots.pop(0)
                tracemalloc.take_snapshot().dump(str(directory / f"snapshot-{at:.0f}.pickle"))
            time.sleep(every_s)


def start(app: Any, directory: str, every_s: float = 30.0) -> None:
    """Probe `app`'s process from a daemon thread (see the module docstring)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    snapshots: list[float] = []
    if os.environ.get("KEEL_SOAK_TRACEMALLOC") == "1":
        tracemalloc.start(int(os.environ.get("KEEL_SOAK_FRAMES", "8")))
        text = os.environ.get("KEEL_SOAK_SNAPSHOTS", "")
        snapshots = sorted(float(s) for s in text.split(",") if s.strip())
    args = (app, path, every_s, snapshots)
    threading.Thread(target=_loop, args=args, daemon=True, name="soak-probe").start()
