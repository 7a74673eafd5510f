"""The PII vault: the real values behind per-session placeholders (`<EMAIL_1>`),
encrypted at rest, scoped by tenant and session.

SQLite (one table) because it is the embedded default and a vault is small: a few rows
per conversation. Rows are looked up by (tenant, scope); the same value in one scope
gets the same placeholder, found by decrypting that scope's rows (a handful).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

from keel.security.crypto import Encryptor

__all__ = ["PiiVault"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pii_vault (
    tenant_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    placeholder TEXT NOT NULL,
    kind TEXT NOT NULL,
    value_enc TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (tenant_id, scope, placeholder)
)
"""


class PiiVault:
    def __init__(self, path: str | Path, encryptor: Encryptor) -> None:
        self.path = Path(path)
        self._encryptor = encryptor
        self._lock = asyncio.Lock()
        with self._connect() as db:
            db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Generator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
        finally:
            db.close()

    async def placeholder(self, tenant_id: str, scope: str, kind: str, value: str) -> str:
        async with self._lock:
            return await asyncio.to_thread(self._placeholder, tenant_id, scope, kind, value)

    def _placeholder(self, tenant_id: str, scope: str, kind: str, value: str) -> str:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(
                "SELECT placeholder, kind, value_enc FROM pii_vault WHERE tenant_id=? AND scope=?",
                (tenant_id, scope),
            ).fetchall()
            for placeholder, row_kind, enc in rows:
                if row_kind == kind and self._encryptor.decrypt(enc) == value:
                    db.execute("COMMIT")
                    return placeholder
            number = 1 + sum(1 for r in rows if r[1] == kind)
            placeholder = f"<{kind}_{number}>"
            db.execute(
                "INSERT INTO pii_vault VALUES (?, ?, ?, ?, ?, ?)",
                (tenant_id, scope, placeholder, kind, self._encryptor.encrypt(value), time.time()),
            )
            db.execute("COMMIT")
            return placeholder

    async def values(self, tenant_id: str, scope: str) -> dict[str, str]:
        """placeholder → real value, for one tenant's scope (never another tenant's)."""
        return await asyncio.to_thread(self._values, tenant_id, scope)

    def _values(self, tenant_id: str, scope: str) -> dict[str, str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT placeholder, value_enc FROM pii_vault WHERE tenant_id=? AND scope=?",
                (tenant_id, scope),
            ).fetchall()
        return {p: self._encryptor.decrypt(enc) for p, enc in rows}

    def rotate(self) -> int:
        """Re-encrypt every row under the newest key; returns how many rows."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute("SELECT rowid, value_enc FROM pii_vault").fetchall()
            for rowid, enc in rows:
                db.execute(
                    "UPDATE pii_vault SET value_enc=? WHERE rowid=?",
                    (self._encryptor.rotate(enc), rowid),
                )
            db.execute("COMMIT")
        return len(rows)

    def forget(self, tenant_id: str, scope: str) -> None:
        """Delete a scope's values (erasure requests)."""
        with self._connect() as db:
            db.execute("DELETE FROM pii_vault WHERE tenant_id=? AND scope=?", (tenant_id, scope))
