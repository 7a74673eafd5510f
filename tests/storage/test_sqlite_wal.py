"""WAL checkpoints happen off the event loop, and the WAL cannot grow without bound."""

from __future__ import annotations

import os
from pathlib import Path

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
