"""Tools for the plan tests, and a process that executes a plan (killed mid-plan).

    python -m tests.orchestration.plan_worker DB PLAN_ID

Effects are lines appended to `$KEEL_TEST_EFFECTS`. With `KEEL_TEST_CRASH_AT=<tool>` the
process dies (os._exit) the first time that tool starts, before its effect.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from keel import tool
from keel.storage.sqlite import SQLiteDatabase
from keel.workflows import PlanExecutor, PlanStore


def _effect(line: str) -> str:
    crash = os.environ.get("KEEL_TEST_CRASH_AT")
    marker = Path(os.environ["KEEL_TEST_EFFECTS"] + ".crashed")
    if crash and line.startswith(crash) and not marker.exists():
        marker.write_text("1")
        os._exit(9)
    with open(os.environ["KEEL_TEST_EFFECTS"], "a") as out:
        out.write(line + "\n")
    return line


@tool(idempotent=True)
def reserve(item: str) -> str:
    """Reserve stock."""
    return _effect(f"reserve {item}")


@tool(idempotent=True)
def release(item: str) -> str:
    """Release reserved stock."""
    return _effect(f"release {item}")


@tool(idempotent=True)
def charge(amount: float) -> str:
    """Charge the customer."""
    if amount > 1000:
        raise ValueError("card declined")
    return _effect(f"charge {amount}")


@tool(idempotent=True)
def refund(amount: float) -> str:
    """Refund the customer."""
    return _effect(f"refund {amount}")


@tool(idempotent=True)
def ship(order_id: str) -> str:
    """Hand the order to the courier."""
    if order_id == "BAD":
        raise RuntimeError("courier rejected the parcel")
    return _effect(f"ship {order_id}")


@tool
def email(text: str) -> str:
    """Email the customer (not idempotent)."""
    return _effect(f"email {text}")


TOOLS = [reserve, release, charge, refund, ship, email]


def executor(db: Path) -> PlanExecutor:
    return PlanExecutor(TOOLS, PlanStore(SQLiteDatabase(db)))


if __name__ == "__main__":
    record = asyncio.run(executor(Path(sys.argv[1])).execute(sys.argv[2]))
    print(record.status)
