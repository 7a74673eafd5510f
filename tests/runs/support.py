"""What the durable-run tests share: a refund tool that needs approval and counts its
effects, and a runner whose sessions and runs share one SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keel import Agent, Runner, SQLiteRunStore, SQLiteSessionStore, tool
from keel.storage.sqlite import SQLiteDatabase

REFUNDS: list[str] = []
"""Every refund that really ran, in order (cleared before each test by conftest.py)."""


@tool(requires_approval=True)
def refund(order_id: str) -> str:
    """Refund an order."""
    REFUNDS.append(order_id)
    return f"refunded {order_id}"


def durable_runner(path: Path, *agents: Agent[Any], **options: Any) -> Runner:
    db = SQLiteDatabase(path)
    return Runner(
        session_store=SQLiteSessionStore(db),
        run_store=SQLiteRunStore(db),
        agents=agents,
        **options,
    )
