"""Usage and cost added up per session, user or tenant, from the stored runs.

Every run keeps its `Usage` (requests, tokens, cached tokens, cost) in its stored state,
checkpointed as it goes; these totals read them back with one SQL aggregate over the
app's database (`json_extract` on the state column), scoped by tenant like every query.

    totals = await usage_by(app.run_store, by="user", tenant_id="acme")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from keel.exceptions import ConfigurationError
from keel.messages import Usage
from keel.principal import DEFAULT_TENANT
from keel.runs.store import RunStore

__all__ = ["UsageGroup", "UsageTotal", "usage_by"]

UsageGroup = Literal["session", "user", "tenant", "agent"]
_COLUMNS = {
    "session": "session_id",
    "user": "user_id",
    "tenant": "tenant_id",
    "agent": "agent_name",
}
_FIELDS = ("requests", "input_tokens", "output_tokens", "tool_calls", "cached_input_tokens", "cost")


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """The usage of every run of one session, user, tenant or agent (`key`; None for runs
    without a session or a user)."""

    key: str | None
    runs: int
    usage: Usage


async def usage_by(
    store: RunStore,
    *,
    by: UsageGroup,
    tenant_id: str = DEFAULT_TENANT,
    since: float | None = None,
) -> list[UsageTotal]:
    """Totals per `by` for runs of `tenant_id` started at or after `since`, costliest
    first. Needs a store on SQLite (`app.run_store`)."""
    if by not in _COLUMNS:
        raise ConfigurationError(
            f"usage_by: by must be one of {', '.join(get_args(UsageGroup))}, got {by!r}"
        )
    db = getattr(store, "db", None)
    reading = getattr(db, "reading", None)
    if reading is None:
        raise ConfigurationError(
            f"usage_by reads stored runs with SQL; {type(store).__name__} is not a SQLite "
            "run store (use app.run_store)"
        )
    sums = ", ".join(f"COALESCE(SUM(json_extract(state, '$.usage.{f}')), 0)" for f in _FIELDS)
    column = _COLUMNS[by]
    query = (
        f"SELECT {column}, COUNT(*), {sums} FROM runs WHERE tenant_id = ? AND created_at >= ? "
        f"GROUP BY {column} ORDER BY 8 DESC, 2 DESC"
    )
    with reading() as conn:
        rows: list[tuple[Any, ...]] = conn.execute(query, (tenant_id, since or 0.0)).fetchall()
    return [_total(row) for row in rows]


def _total(row: tuple[Any, ...]) -> UsageTotal:
    key, runs, requests, inputs, outputs, tools, cached, cost = row
    usage = Usage(int(requests), int(inputs), int(outputs), int(tools), int(cached), float(cost))
    return UsageTotal(key, int(runs), usage)
