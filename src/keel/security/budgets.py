"""Daily cost budgets per user and per tenant, with reservation before each model call
and settlement after it, atomic under concurrency.

`reserve` takes the worst case out of every budget that applies (user and tenant, today)
in one transaction — a SQLite `BEGIN IMMEDIATE` or one Redis Lua script — or takes
nothing and raises `BudgetExceeded`. `settle` gives back the difference once the real
cost is known. So however many calls run at once, reserved + spent never passes a limit.

Days are UTC days from an injectable clock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from keel.exceptions import ConfigurationError, RunBlocked
from keel.principal import Principal

__all__ = [
    "BudgetExceeded",
    "BudgetLimits",
    "BudgetStore",
    "RedisBudgetStore",
    "Reservation",
    "SQLiteBudgetStore",
    "budget_keys",
]

Clock = Callable[[], float]
BUDGET_REPLY = "You have reached today's usage limit. Please try again tomorrow."


class BudgetExceeded(RunBlocked):
    def __init__(self, message: str, *, key: str, limit: float) -> None:
        super().__init__(message, reply=BUDGET_REPLY)
        self.key, self.limit = key, limit


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    per_user: float | None = None
    per_tenant: float | None = None

    def __post_init__(self) -> None:
        for name in ("per_user", "per_tenant"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigurationError(f"BudgetLimits.{name} must be >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    keys: tuple[str, ...]
    amount: float


def day_of(clock: Clock) -> str:
    return datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%d")


def budget_keys(principal: Principal, limits: BudgetLimits, day: str) -> list[tuple[str, float]]:
    """(key, limit) for every budget that applies to `principal` today."""
    keys: list[tuple[str, float]] = []
    if limits.per_user is not None and principal.user_id is not None:
        keys.append(
            (f"{day}:tenant:{principal.tenant_id}:user:{principal.user_id}", limits.per_user)
        )
    if limits.per_tenant is not None:
        keys.append((f"{day}:tenant:{principal.tenant_id}", limits.per_tenant))
    return keys


class BudgetStore(Protocol):
    async def reserve(self, principal: Principal, amount: float) -> Reservation: ...
    async def settle(self, reservation: Reservation, actual: float) -> None: ...
    async def spent(self, key: str) -> float: ...


def _check_amount(amount: float) -> None:
    if not amount >= 0:
        raise ValueError(f"a cost must be >= 0, got {amount}")


class SQLiteBudgetStore:
    def __init__(self, path: str | Path, limits: BudgetLimits, *, clock: Clock = time.time) -> None:
        self.path, self.limits, self._clock = Path(path), limits, clock
        with self._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS budget_spend ("
                "key TEXT PRIMARY KEY, amount REAL NOT NULL DEFAULT 0)"
            )

    @contextmanager
    def _db(self) -> Generator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        try:
            yield db
        finally:
            db.close()

    async def reserve(self, principal: Principal, amount: float) -> Reservation:
        _check_amount(amount)
        keys = budget_keys(principal, self.limits, day_of(self._clock))
        await asyncio.to_thread(self._reserve, keys, amount)
        return Reservation(uuid.uuid4().hex, tuple(k for k, _ in keys), amount)

    def _reserve(self, keys: list[tuple[str, float]], amount: float) -> None:
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")  # one writer at a time: check and take together
            try:
                for key, limit in keys:
                    row = db.execute(
                        "SELECT amount FROM budget_spend WHERE key=?", (key,)
                    ).fetchone()
                    used = row[0] if row else 0.0
                    if used + amount > limit + 1e-9:
                        raise BudgetExceeded(
                            f"budget {key!r} would pass its limit {limit}", key=key, limit=limit
                        )
                for key, _ in keys:
                    db.execute(
                        "INSERT INTO budget_spend VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET amount = amount + excluded.amount",
                        (key, amount),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    async def settle(self, reservation: Reservation, actual: float) -> None:
        _check_amount(actual)
        delta = actual - reservation.amount
        if delta and reservation.keys:
            await asyncio.to_thread(self._adjust, reservation.keys, delta)

    def _adjust(self, keys: tuple[str, ...], delta: float) -> None:
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            for key in keys:
                db.execute("UPDATE budget_spend SET amount = amount + ? WHERE key=?", (delta, key))
            db.execute("COMMIT")

    async def spent(self, key: str) -> float:
        with self._db() as db:
            row = db.execute("SELECT amount FROM budget_spend WHERE key=?", (key,)).fetchone()
        return float(row[0]) if row else 0.0


_RESERVE = """
local amount = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  if used + amount > tonumber(ARGV[i + 1]) + 1e-9 then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('INCRBYFLOAT', key, amount)
  redis.call('EXPIRE', key, 172800)
end
return 0
"""


class RedisBudgetStore:
    """The same budgets shared by every process on one Redis (the `security` extra)."""

    def __init__(
        self,
        redis: Any,
        limits: BudgetLimits,
        *,
        prefix: str = "keel:budget:",
        clock: Clock = time.time,
    ) -> None:
        self.limits, self.prefix, self._clock = limits, prefix, clock
        self._redis = redis
        self._reserve_script: Any = redis.register_script(_RESERVE)

    async def reserve(self, principal: Principal, amount: float) -> Reservation:
        _check_amount(amount)
        keys = budget_keys(principal, self.limits, day_of(self._clock))
        names = [self.prefix + k for k, _ in keys]
        failed = int(
            await self._reserve_script(keys=names, args=[amount, *(limit for _, limit in keys)])
        )
        if failed:
            key, limit = keys[failed - 1]
            raise BudgetExceeded(
                f"budget {key!r} would pass its limit {limit}", key=key, limit=limit
            )
        return Reservation(uuid.uuid4().hex, tuple(names), amount)

    async def settle(self, reservation: Reservation, actual: float) -> None:
        _check_amount(actual)
        delta = actual - reservation.amount
        if delta:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in reservation.keys:
                    pipe.incrbyfloat(key, delta)
                await pipe.execute()

    async def spent(self, key: str) -> float:
        value = await self._redis.get(self.prefix + key)
        return float(value) if value is not None else 0.0
