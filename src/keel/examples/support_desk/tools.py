"""The specialists' tools: each specialist gets only the few it needs.

Refunds wait for a person's approval (`requires_approval`); address changes and returns
are idempotent (doing them twice changes nothing more), so a resumed run may repeat them.
"""

from __future__ import annotations

from typing import Any

from keel.context import RunContext
from keel.examples.support_desk import knowledge
from keel.examples.support_desk.store import desk_store
from keel.handoffs.human import RETRIEVAL_SCORE_KEY
from keel.tools.tool import tool

__all__ = [
    "change_shipping_address",
    "lookup_order",
    "payment_status",
    "refund_order",
    "return_policy",
    "search_products",
    "start_return",
]

_NOT_FOUND = "no order {0}; order numbers look like A1001"


@tool(read_only=True)
def lookup_order(order_id: str) -> dict[str, object] | str:
    """Look up an order's status, delivery estimate and shipping address.

    Args:
        order_id: The order number, like A1001.
    """
    return desk_store().order(order_id) or _NOT_FOUND.format(order_id)


@tool(idempotent=True)
def change_shipping_address(order_id: str, new_address: str) -> str:
    """Change where an order that has not shipped yet will be delivered.

    Args:
        order_id: The order number, like A1001.
        new_address: The full new address.
    """
    order = desk_store().order(order_id)
    if order is None:
        return _NOT_FOUND.format(order_id)
    if order["status"] != "processing":
        return f"order {order['order_id']} is already {order['status']}; the address is fixed"
    if len(new_address.strip()) < 8:
        return "that address looks incomplete; ask for street, number and city"
    desk_store().set_address(str(order["order_id"]), new_address.strip())
    return f"order {order['order_id']} will now go to {new_address.strip()}"


@tool(read_only=True)
def return_policy() -> str:
    """The shop's return and exchange policy."""
    return (
        "Returns within 30 days of delivery, unused, in original packaging; free return "
        "label. Faulty items: free replacement or refund within the 2-year warranty."
    )


@tool(idempotent=True)
def start_return(order_id: str, reason: str) -> str:
    """Open a return for a delivered order and email the customer a return label.

    Args:
        order_id: The order number, like A1003.
        reason: Why the customer is returning it, in a few words.
    """
    order = desk_store().order(order_id)
    if order is None:
        return _NOT_FOUND.format(order_id)
    if order["status"] != "delivered":
        return f"order {order['order_id']} is {order['status']}; returns open after delivery"
    status = desk_store().start_return(str(order["order_id"]), reason)
    return f"return for {order['order_id']}: {status}"


@tool(read_only=True)
def search_products(question: str, ctx: RunContext) -> list[dict[str, Any]]:
    """Search the product information for an answer.

    Args:
        question: What the customer wants to know about a product.
    """
    hits, best = knowledge.search(question)
    ctx.metadata[RETRIEVAL_SCORE_KEY] = best
    return hits


@tool(read_only=True)
def payment_status(order_id: str) -> dict[str, object] | str:
    """How an order was paid, how much was charged and how much refunded.

    Args:
        order_id: The order number, like A1001.
    """
    return desk_store().payment(order_id) or _NOT_FOUND.format(order_id)


@tool(requires_approval=True, idempotent=True)
def refund_order(order_id: str, reason: str) -> str:
    """Refund an order in full. A person approves every refund before it happens.

    Args:
        order_id: The order number, like A1001.
        reason: Why, in a few words.
    """
    payment = desk_store().payment(order_id)
    if payment is None:
        return _NOT_FOUND.format(order_id)
    refunded = desk_store().refund(str(payment["order_id"]))
    return f"refunded {refunded:.2f} to the {payment['method']} used for {payment['order_id']}"
