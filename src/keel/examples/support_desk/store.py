"""The desk's own data: customers, orders, payments and returns in a SQLite file of its
own (`$KEEL_HOME/support_desk.db`), seeded with demo rows on first use."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from keel.settings import data_dir

__all__ = ["DeskStore", "desk_store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id),
    item TEXT NOT NULL, total REAL NOT NULL, status TEXT NOT NULL, eta TEXT NOT NULL,
    address TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
    order_id TEXT PRIMARY KEY REFERENCES orders(id), method TEXT NOT NULL,
    charged REAL NOT NULL, refunded REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS returns (
    order_id TEXT PRIMARY KEY REFERENCES orders(id), reason TEXT NOT NULL, status TEXT NOT NULL);
"""
_CUSTOMERS = [("C1", "Ana Lima", "ana@example.com"), ("C2", "Ben Okafor", "ben@example.com")]
_ORDERS = [
    ("A1001", "C1", "trail running shoes", 89.0, "shipped", "arrives Tuesday", "4 Elm Road, Leeds"),
    ("A1002", "C1", "desk lamp", 35.5, "processing", "ships within 2 days", "4 Elm Road, Leeds"),
    ("A1003", "C2", "espresso machine", 249.0, "delivered", "delivered Monday", "9 Quay St, Cork"),
    ("A1004", "C2", "rain jacket", 120.0, "processing", "ships tomorrow", "9 Quay St, Cork"),
]
_PAYMENTS = [("A1001", "card", 89.0), ("A1002", "paypal", 35.5), ("A1003", "card", 249.0),
             ("A1004", "card", 120.0)]  # fmt: skip


class DeskStore:
    """Small, synchronous: each call is one short transaction on the desk's own file."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)
            if not self._conn.execute("SELECT 1 FROM customers").fetchone():
                self._seed()

    def _seed(self) -> None:
        self._conn.executemany("INSERT INTO customers VALUES (?, ?, ?)", _CUSTOMERS)
        self._conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)", _ORDERS)
        self._conn.executemany(
            "INSERT INTO payments (order_id, method, charged) VALUES (?, ?, ?)", _PAYMENTS
        )

    def order(self, order_id: str) -> dict[str, object] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, item, total, status, eta, address FROM orders WHERE id = ?",
                (order_id.strip().upper(),),
            ).fetchone()
        if row is None:
            return None
        keys = ("order_id", "item", "total", "status", "eta", "address")
        return dict(zip(keys, row, strict=True))

    def set_address(self, order_id: str, address: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("UPDATE orders SET address = ? WHERE id = ?", (address, order_id))

    def payment(self, order_id: str) -> dict[str, object] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT order_id, method, charged, refunded FROM payments WHERE order_id = ?",
                (order_id.strip().upper(),),
            ).fetchone()
        if row is None:
            return None
        return dict(zip(("order_id", "method", "charged", "refunded"), row, strict=True))

    def refund(self, order_id: str) -> float:
        """Refund what is left to refund; a second refund of the same order adds nothing."""
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE payments SET refunded = charged WHERE order_id = ?", (order_id,)
            )
            (refunded,) = self._conn.execute(
                "SELECT refunded FROM payments WHERE order_id = ?", (order_id,)
            ).fetchone()
        return float(refunded)

    def start_return(self, order_id: str, reason: str) -> str:
        """Open a return, once per order; returns its status."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO returns VALUES (?, ?, 'label sent') ON CONFLICT DO NOTHING",
                (order_id, reason),
            )
            (status,) = self._conn.execute(
                "SELECT status FROM returns WHERE order_id = ?", (order_id,)
            ).fetchone()
        return str(status)


_stores: dict[str, DeskStore] = {}


def desk_store() -> DeskStore:
    """The store in `$KEEL_HOME/support_desk.db`, one per path per process."""
    path = str(data_dir() / "support_desk.db")
    if path not in _stores:
        _stores[path] = DeskStore(path)
    return _stores[path]
