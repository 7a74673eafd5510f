"""A process that runs or resumes one run of a durable app, for the crash tests.

    python -m tests.runs.durable_worker run RUN_ID TEXT
    python -m tests.runs.durable_worker resume RUN_ID [PENDING_ID approve|reject]
    python -m tests.runs.durable_worker show RUN_ID

Side effects are lines appended to `$KEEL_TEST_EFFECTS`: `charge <key>` for the
non-idempotent tool, `ship <key>` for the idempotent one (which performs its effect only
once per idempotency key, as a real idempotent API does). With `KEEL_TEST_HANG=before`
the process stops before the tool runs; with `KEEL_TEST_HANG=during` inside it, after the
effect; it then writes `$KEEL_TEST_EFFECTS.hung` and sleeps until killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from keel import (
    Agent,
    App,
    Approve,
    Middleware,
    Reject,
    RunContext,
    ToolCall,
    ToolResultPart,
    tool,
)
from keel.middleware import ToolHandler
from keel.models.base import ModelRequest
from keel.testing import FunctionModel, Reply, tool_call


def _effects() -> Path:
    return Path(os.environ["KEEL_TEST_EFFECTS"])


def _hang(stage: str) -> None:
    if os.environ.get("KEEL_TEST_HANG") == stage:
        Path(str(_effects()) + ".hung").write_text(stage)
        time.sleep(600)


def _record(line: str) -> None:
    with _effects().open("a") as file:
        file.write(line + "\n")


@tool
def charge(order_id: str, ctx: RunContext) -> str:
    """Charge the customer's card (not idempotent)."""
    _record(f"charge {ctx.idempotency_key}")
    _hang("during")
    return f"charged {order_id}"


@tool(idempotent=True)
def ship(order_id: str, ctx: RunContext) -> str:
    """Ship the order (idempotent: a repeated key ships nothing new)."""
    done = _effects().read_text().split("\n") if _effects().exists() else []
    if f"ship {ctx.idempotency_key}" not in done:
        _record(f"ship {ctx.idempotency_key}")
    _hang("during")
    return f"shipped {order_id}"


@tool(requires_approval=True)
def refund(order_id: str, ctx: RunContext) -> str:
    """Refund an order (a person approves each refund)."""
    _record(f"refund {ctx.idempotency_key}")
    return f"refunded {order_id}"


class StopBeforeTools(Middleware):
    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        _hang("before")
        return await call_next(call)


def desk(request: ModelRequest) -> Reply:
    last = request.messages[-1]
    if last.role == "tool":
        return "done: " + "; ".join(getattr(p, "content", "") for p in last.parts)
    if "refund" in last.text:
        return [tool_call("refund", {"order_id": o}) for o in ("A1", "A2")]
    for name in ("charge", "ship"):
        if name in last.text:
            return tool_call(name, {"order_id": "A1"})
    return "nothing to do"


agent = Agent(
    name="desk",
    model=FunctionModel(desk),
    tools=[charge, ship, refund],
    middleware=[StopBeforeTools()],
)
app = App(agents=[agent])


async def main(argv: list[str]) -> None:
    command, run_id = argv[0], argv[1]
    if command == "show":
        state = await app.runner.get_run(run_id)
        print(json.dumps({"status": state.status, "decisions": len(state.decisions)}))
        return
    if command == "run":
        result = await app.runner.run(agent, argv[2], run_id=run_id, session_id="s1")
    else:
        decisions = {}
        if len(argv) > 2:
            decisions = {argv[2]: Approve() if argv[3] == "approve" else Reject("no, thanks")}
        result = await app.runner.resume(run_id, decisions=decisions)
    pending = [{"id": p.id, "tool": p.tool_name, "reason": p.reason} for p in result.pending]
    print(json.dumps({"status": result.status, "output": result.output, "pending": pending}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
