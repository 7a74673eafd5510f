"""An app whose tools `keel mcp serve` exposes in the round-trip tests."""

from __future__ import annotations

from keel import Agent, App, tool
from keel.policy import PolicySet, deny
from keel.testing import ScriptedModel
from keel.tools.gateway import ToolGateway


@tool(read_only=True)
def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order."""
    return {"order_id": order_id, "status": "shipped"}


@tool
def refund(order_id: str, amount: int) -> str:
    """Refund an order."""
    return f"refunded {amount} on {order_id}"


@tool(requires_approval=True)
def close_account(user: str) -> str:
    """Close an account."""
    return f"closed {user}"


policy = PolicySet(
    [deny(tools=["refund"], when=lambda r: r.arguments["amount"] > 100, reason="over 100")]
)
agent = Agent(name="desk", model=ScriptedModel([]), tools=[lookup_order, refund, close_account])
app = App(agents=[agent], middleware=[ToolGateway(policy)])
