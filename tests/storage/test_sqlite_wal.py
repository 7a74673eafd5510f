"""WAL checkpoints happen off the event loop, and the WAL cannot grow without bound."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import keel.storage.sqlite as sqlite_module
from keel.storage.sqlite import SQLiteDatabase


def _write(db: SQLiteDatabase, rows: int) -> None:
    for i in range(rows):
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO sessions (tenant_id, id, created_at, updated_at) VALUES (?, ?, 0, 0)",
                ("t", f"s{i}"),
            )


def test_a_background_thread_copies_the_wal_into_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_EVERY", 10)
    db = SQLiteDatabase(tmp_path / "k.db")
    with db.reading() as conn:
        (automatic,) = conn.execute("PRAGMA wal_autocheckpoint").fetchone()
    assert automatic == 0  # never inside a commit on the event loop
    before = os.path.getsize(tmp_path / "k.db")
    _write(db, 200)
    db.close()  # waits for a running checkpoint
    assert os.path.getsize(tmp_path / "k.db") > before  # pages reached the database file


def test_a_wal_past_its_limit_is_truncated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_EVERY", 1)
    monkeypatch.setattr(sqlite_module, "WAL_LIMIT_BYTES", 1)
    db = SQLiteDatabase(tmp_path / "k.db")
    _write(db, 5)
    assert os.path.getsize(tmp_path / "k.db-wal") == 0
    with db.reading() as conn:
        (count,) = conn.execute("SELECT count(*) FROM sessions").fetchone()
    assert count == 5
    db.close()


class _KeepingCursors(sqlite3.Connection):
    """Keeps every cursor alive, as a thread listing objects (`gc.get_objects()`) did."""

    kept: list[sqlite3.Cursor] = []  # noqa: RUF012

    def execute(self, *args: Any) -> sqlite3.Cursor:
        cursor = super().execute(*args)
        self.kept.append(cursor)
        return cursor


def test_writes_go_on_while_a_reference_keeps_the_wal_truncation_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A soak (BENCHMARKS.md, issue 12) met one failed COMMIT ("SQL statements in
    progress"): the WAL's truncating checkpoint, a pragma that returns a row, was left
    unread while another thread's reference kept its cursor alive. The transaction stayed
    open and every later write failed until the server restarted."""
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_EVERY", 1)
    monkeypatch.setattr(sqlite_module, "WAL_LIMIT_BYTES", 1)  # truncate after every commit
    connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite_module.sqlite3, "connect", lambda *a, **k: connect(*a, **k, factory=_KeepingCursors)
    )
    db = SQLiteDatabase(tmp_path / "k.db")
    _write(db, 20)
    with db.reading() as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (20,)
    assert len(_KeepingCursors.kept) > 20  # every cursor was kept, the pragmas' too
    _KeepingCursors.kept.clear()
    db.close()


def test_a_commit_that_fails_rolls_back_and_later_transactions_work(tmp_path: Path) -> None:
    """Whatever makes a COMMIT fail, its transaction is rolled back once it can be: the
    next one works, and nothing of the failed one was written."""
    db = SQLiteDatabase(tmp_path / "k.db")
    _write(db, 3)
    with db.reading() as conn:
        held = conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # its row left unread
    with (
        pytest.raises(sqlite3.OperationalError, match="statements in progress"),  # COMMIT's
        db.transaction() as conn,
    ):
        conn.execute(
            "INSERT INTO sessions (tenant_id, id, created_at, updated_at) "
            "VALUES ('t', 'lost', 0, 0)"
        )
    held.close()  # whoever held it lets go
    with db.transaction() as conn:  # refused for ever before the fix
        conn.execute(
            "INSERT INTO sessions (tenant_id, id, created_at, updated_at) "
            "VALUES ('t', 'after', 0, 0)"
        )
    with db.reading() as conn:
        ids = {row[0] for row in conn.execute("SELECT id FROM sessions").fetchall()}
    assert ids == {"s0", "s1", "s2", "after"}  # the failed transaction wrote nothing
