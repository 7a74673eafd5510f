"""The starter app: a small shop assistant with one tool, on the local model.

`keel chat` serves it when no app path is given. The reference support desk replaces it.
"""

from __future__ import annotations

from typing import Literal

from keel.agent import Agent
from keel.app import App
from keel.tools.tool import tool

_ORDERS: dict[str, tuple[str, str]] = {
    "A1001": ("shipped", "arrives Tuesday"),
    "A1002": ("processing", "ships within 2 days"),
    "A1003": ("delivered", "delivered Monday"),
}


@tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Look up the status of a customer's order.

    Args:
        order_id: The order number, like A1001.
    """
    found = _ORDERS.get(order_id.strip().upper())
    if found is None:
        return {"order_id": order_id, "status": "not found"}
    status, detail = found
    return {"order_id": order_id, "status": status, "detail": detail}


@tool
def store_hours(day: Literal["weekday", "saturday", "sunday"]) -> str:
    """Opening hours of the shop's support line on a given kind of day."""
    return {"weekday": "9:00-18:00", "saturday": "10:00-14:00", "sunday": "closed"}[day]


assistant = Agent(
    name="shop-assistant",
    instructions=(
        "You are the assistant of a small online shop. Be brief and friendly. "
        "Use lookup_order when the customer gives an order number, store_hours for "
        "opening hours. Never invent an order status."
    ),
    tools=[lookup_order, store_hours],
)

app = App(agents=[assistant], description="A small shop assistant with order lookup.")
