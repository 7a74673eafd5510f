"""The app `benchmarks/server.py` serves: one agent on an instant model (`test:echo`).

With `KEEL_SOAK_SQLITE_LOG` set (by `benchmarks/soak.py`), a thread appends SQLite's own
heap use (`sqlite3_memory_used`, page caches included) to that file every 5 s, so a soak
can tell SQLite's growth from the rest of the process's."""

import ctypes
import os
import threading
import time

from keel import Agent, App

app = App(agents=[Agent(name="echo", model="test:echo")])


def _log_sqlite_memory(path: str, every_s: float = 5.0) -> None:
    used = ctypes.CDLL("libsqlite3.so.0").sqlite3_memory_used  # the library _sqlite3 uses
    used.restype = ctypes.c_int64
    start = time.monotonic()
    while True:
        with open(path, "a") as log:
            log.write(f"{time.monotonic() - start:.1f} {used() // 1024}\n")
        time.sleep(every_s)


if log_path := os.environ.get("KEEL_SOAK_SQLITE_LOG"):
    threading.Thread(target=_log_sqlite_memory, args=(log_path,), daemon=True).start()
