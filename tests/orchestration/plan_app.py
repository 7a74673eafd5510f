"""An app whose agent proposes plans through `PlanExecutor.as_tool()`: `--app
tests.orchestration.plan_app:app`. Its database is the default one in `$KEEL_HOME` (a
fresh directory per test), shared by every process a test starts.

The model: "plan ORDER [AMOUNT]" proposes reserve → charge → ship for ORDER; a tool result
is answered with "Plan: <result>".
"""

from __future__ import annotations

from keel import Agent, App
from keel.models.base import ModelRequest
from keel.settings import data_dir
from keel.storage.sqlite import SQLiteDatabase
from keel.testing import FunctionModel, Reply, tool_call
from keel.workflows import PlanExecutor, PlanStore
from tests.orchestration.plan_worker import TOOLS


def planner(request: ModelRequest) -> Reply:
    last = request.messages[-1]
    if last.role == "tool":
        return f"Plan: {last.parts[0].content}"  # type: ignore[union-attr]
    words = last.text.split()
    order, amount = words[1], float(words[2]) if len(words) > 2 else 20.0
    return tool_call(
        "run_plan",
        {
            "goal": f"fulfil {order}",
            "steps": [
                {"tool": "reserve", "arguments": {"item": "lamp"},
                 "compensate": {"tool": "release", "arguments": {"item": "lamp"}}},
                {"tool": "charge", "arguments": {"amount": amount},
                 "compensate": {"tool": "refund", "arguments": {"amount": amount}}},
                {"tool": "ship", "arguments": {"order_id": order}},
            ],
        },
    )  # fmt: skip


DATABASE = data_dir() / "keel.db"
plans = PlanExecutor(TOOLS, PlanStore(SQLiteDatabase(DATABASE)))
app = App(
    agents=[Agent(name="planner", model=FunctionModel(planner), tools=[plans.as_tool()])],
    database=DATABASE,
)
