"""The app the scale-out test serves from several processes: `tests.scaleout_app:app`.

A scripted model (a short pause, then a tool call, then an answer) and a side-effecting
tool that records one row per effect in PostgreSQL, keyed by the call's idempotency key
(`KEEL_EFFECTS_URL` names the database). Sessions and runs live where the config says.
"""

from __future__ import annotations

import asyncio
import os

import psycopg

from keel import Agent, App, RunContext, tool
from keel.models.base import ModelRequest
from keel.testing.models import FunctionModel, Reply, tool_call


@tool
def record_effect(note: str, ctx: RunContext) -> str:
    """Record a side effect once, whatever the retries."""
    with psycopg.connect(os.environ["KEEL_EFFECTS_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO effects (key, run_id, note) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO NOTHING",
            (ctx.idempotency_key, ctx.run_id, note),
        )
        conn.execute("INSERT INTO attempts (key) VALUES (%s)", (ctx.idempotency_key,))
    return f"recorded {note}"


async def _script(request: ModelRequest) -> Reply:
    await asyncio.sleep(0.05)  # long enough that runs are in flight when a process dies
    last = request.messages[-1]
    if last.role == "tool":
        return f"done: {last.parts[0].content}"  # pyright: ignore[reportAttributeAccessIssue]
    return tool_call("record_effect", {"note": last.text})


app = App(agents=[Agent(name="clerk", model=FunctionModel(_script), tools=[record_effect])])
