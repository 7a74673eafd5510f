"""The SQLite database every default store shares: WAL, migrations, transactions.

Queries run on the calling thread, not a worker thread: in WAL mode with
`synchronous=NORMAL` a commit does not fsync, so a session append takes ~70 µs at the
median — less than the ~160 µs a thread hop costs here. What must not run on the event
loop is the WAL checkpoint: left to SQLite, it happens inside whichever commit pushes the
WAL past 1,000 pages and blocks that commit for milliseconds (10-14 ms measured with
durable runs). So automatic checkpoints are off on this connection, and every
`CHECKPOINT_EVERY` commits a daemon thread runs a PASSIVE checkpoint on a connection of
its own (SQLite releases the GIL while it copies pages). A lock serializes use of the
main connection; `busy_timeout` makes other processes wait for the writer instead of
failing.
"""

from __future__ import annotations

import _thread
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Generator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from keel.storage.migrations import Migration, load_migrations, split_statements

__all__ = ["SQLiteDatabase"]

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA wal_autocheckpoint=0",
)
CHECKPOINT_EVERY = 100
"""Commits between background WAL checkpoints (~1-2 MB of WAL at this project's sizes)."""
WAL_LIMIT_BYTES = 16 * 1024 * 1024
"""Past this the WAL is checkpointed and truncated inline, stall or not: a writer that
never pauses would otherwise keep the background checkpoints from ever catching up."""


class SQLiteDatabase:
    """One connection to a database file (or `:memory:`), migrated on open."""

    @classmethod
    def shared(cls, path: str | Path) -> SQLiteDatabase:
        """The one open database for `path` in this process, opened on first use. Stores
        on the same file (an `App`'s and its `ToolGateway`'s) then share a connection and
        its lock, which hands over at once, instead of two connections meeting in
        SQLite's busy handler (sleeps of 1 ms and up) when both write. Each `:memory:`
        database is its own, so it is never shared."""
        if str(path) == ":memory:":
            return cls(path)
        key = str(Path(path).expanduser().resolve())
        with _SHARED_LOCK:
            db = _SHARED.get(key)
            if db is None or db.closed:
                db = _SHARED[key] = cls(path)
            return db

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.closed = False
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; `transaction()` opens them.
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        for pragma in _PRAGMAS:  # each row read: an unread pragma is a statement running
            self._conn.execute(pragma).fetchall()
        self._checkpointer = _Checkpointer(self.path)
        self.migrate()

    @contextmanager
    def transaction(self) -> Generator[sqlite3.Connection]:
        """A write transaction: all of it commits, or none of it does."""
        with self._lock:
            self._end_failed_transaction()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):  # if it fails too, the next use retries it
                    self._end_failed_transaction()
                raise
        if self._checkpointer.committed():
            self._truncate_wal()

    def _end_failed_transaction(self) -> None:
        """Roll back what a failed COMMIT (or ROLLBACK) left open: "SQL statements in
        progress" while some reference keeps a writing statement's cursor alive. Left
        open, every later BEGIN failed and the server answered 500 until restarted (a
        soak, BENCHMARKS.md issue 12); reads would have seen the failed writes."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def write(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """One statement that commits by itself (SQLite autocommit), returning the rows it
        changed: as durable as a `transaction()`, without the BEGIN and COMMIT round trips
        (each releases and retakes the GIL) — for single-row writes on a hot path."""
        with self._lock:
            self._end_failed_transaction()
            changed = self._conn.execute(sql, parameters).rowcount
        if self._checkpointer.committed():
            self._truncate_wal()
        return changed

    @contextmanager
    def reading(self) -> Generator[sqlite3.Connection]:
        with self._lock:
            self._end_failed_transaction()
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

    def _truncate_wal(self) -> None:
        with self._lock:
            # Read its row: until then the pragma is a statement in progress, and one kept
            # alive past here (any reference to its cursor) made every COMMIT fail.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        self._checkpointer.wait()
        with self._lock:
            self._conn.close()
            self.closed = True


_SHARED: weakref.WeakValueDictionary[str, SQLiteDatabase] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


class _Checkpointer:
    """Runs PASSIVE WAL checkpoints off the event loop, one at a time.

    Started with `_thread.start_new_thread`, which returns once the thread exists:
    `threading.Thread.start` also waits until the new thread has run (~50 µs idle,
    milliseconds on a busy machine), and that wait fell on every hundredth commit."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._commits = 0
        self._idle = threading.Event()
        self._idle.set()

    def committed(self) -> bool:
        """Count a commit; True when the WAL outgrew its limit and needs truncating now."""
        self._commits += 1
        if self._path == ":memory:" or self._commits < CHECKPOINT_EVERY:
            return False
        if not self._idle.is_set():
            return False  # one is running; the next commit tries again
        self._commits = 0
        if _size(self._path + "-wal") > WAL_LIMIT_BYTES:
            return True
        self._idle.clear()
        try:
            _thread.start_new_thread(self._run, ())
        except RuntimeError:  # no thread to be had: the next round tries again
            self._idle.set()
        return False

    def _run(self) -> None:
        try:
            _checkpoint(self._path)
        finally:
            self._idle.set()

    def wait(self) -> None:
        self._idle.wait()


def _checkpoint(path: str) -> None:
    try:
        conn = sqlite3.connect(path, timeout=5.0)
    except sqlite3.Error:
        return  # the next round tries again; nothing is lost meanwhile
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass  # busy or locked: the WAL just grows until the next round
    finally:
        conn.close()


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
