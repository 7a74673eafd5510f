"""The SQLite database every default store shares: WAL, migrations, transactions.

Queries run on the calling thread, not a worker thread: in WAL mode with
`synchronous=NORMAL` a commit does not fsync, so a session append takes ~70 µs at the
median — less than the ~160 µs a thread hop costs here. The price is the tail: when the
WAL reaches 1,000 pages SQLite checkpoints inside a commit, and that commit blocks the
event loop for milliseconds (p99 0.5-4 ms measured; see BENCHMARKS.md). A lock
serializes use of the one connection; `busy_timeout` makes other processes wait for the
writer instead of failing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

from keel.storage.migrations import Migration, load_migrations, split_statements

__all__ = ["SQLiteDatabase"]

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)


class SQLiteDatabase:
    """One connection to a database file (or `:memory:`), migrated on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; `transaction()` opens them.
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        for pragma in _PRAGMAS:
            self._conn.execute(pragma)
        self.migrate()

    @contextmanager
    def transaction(self) -> Generator[sqlite3.Connection]:
        """A write transaction: all of it commits, or none of it does."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Generator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def schema_version(self) -> int:
        with self.reading() as conn:
            row = conn.execute("SELECT max(version) FROM keel_schema").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> None:
        """Apply every shipped migration not applied yet, each in its own transaction."""
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS keel_schema "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            for migration in load_migrations("sqlite"):
                self._apply(migration)

    def _apply(self, migration: Migration) -> None:
        with self.transaction() as conn:
            # Checked inside the write lock: two processes opening a new file race here.
            done = conn.execute(
                "SELECT 1 FROM keel_schema WHERE version = ?", (migration.version,)
            ).fetchone()
            if done:
                return
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO keel_schema (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
