"""A process that runs or resumes one run of an app behind the tool gateway (crash tests).

    python -m tests.gateway.gateway_worker run RUN_ID
    python -m tests.gateway.gateway_worker resume RUN_ID [PENDING_ID]   (approves it)

`refund` appends `refund <idempotency key>` to `$KEEL_TEST_EFFECTS`. With
`KEEL_TEST_HANG=approved` the process stops after the approval is recorded and the run
claimed, before the gateway executes the call; with `KEEL_TEST_HANG=claimed` inside the
tool, after the ledger row is claimed and before the effect. It then writes
`$KEEL_TEST_EFFECTS.hung` and sleeps until killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from keel import Agent, App, Approve, Middleware, RunContext, ToolCall, ToolResultPart, tool
from keel.middleware import ToolHandler
from keel.models.base import ModelRequest
from keel.policy import PolicySet, require_approval
from keel.testing import FunctionModel, Reply, tool_call
from keel.tools.gateway import ToolGateway


def _hang(stage: str) -> None:
    if os.environ.get("KEEL_TEST_HANG") == stage:
        Path(os.environ["KEEL_TEST_EFFECTS"] + ".hung").write_text(stage)
        time.sleep(600)


@tool
def refund(order_id: str, amount: int, ctx: RunContext) -> str:
    """Refund an order (not idempotent)."""
    _hang("claimed")
    with Path(os.environ["KEEL_TEST_EFFECTS"]).open("a") as file:
        file.write(f"refund {ctx.idempotency_key}\n")
    return f"refunded {amount} on {order_id}"


class HangWhenApproved(Middleware):
    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        if call.approved:
            _hang("approved")
        return await call_next(call)


def desk(request: ModelRequest) -> Reply:
    last = request.messages[-1]
    if last.role == "tool":
        return "done: " + "; ".join(getattr(p, "content", "") for p in last.parts)
    return tool_call("refund", {"order_id": "A1", "amount": 40})


policy = PolicySet([require_approval(tools=["refund"], reason="refunds need a person")])
agent = Agent(
    name="desk", model=FunctionModel(desk), tools=[refund], middleware=[HangWhenApproved()]
)
app = App(agents=[agent], middleware=[ToolGateway(policy)])


async def main(argv: list[str]) -> None:
    command, run_id = argv[0], argv[1]
    if command == "run":
        result = await app.runner.run(agent, "refund A1", run_id=run_id)
    else:
        decisions = {argv[2]: Approve()} if len(argv) > 2 else {}
        result = await app.runner.resume(run_id, decisions=decisions)
    pending = [p.id for p in result.pending]
    print(json.dumps({"status": result.status, "output": result.output, "pending": pending}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
