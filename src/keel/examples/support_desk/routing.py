"""The desk's router: four routes built from the `train` split of the labelled messages.

A message no route takes confidently gets a clarifying question — no model call; two
such turns in a row go to a person (`HumanHandoff`'s low-confidence trigger).
"""

from __future__ import annotations

from functools import cache

from keel.examples.support_desk.intents import ROUTE_LABELS, load_intents
from keel.routing import ClarifyingQuestion, Route, SemanticRouter

__all__ = ["CLARIFY", "DESCRIPTIONS", "desk_router"]

DESCRIPTIONS = {
    "orders": "order status, delivery, tracking, shipping address changes, cancellations",
    "returns": "returns, exchanges, damaged or faulty items, warranty claims",
    "product": "questions about products: features, sizes, compatibility, stock",
    "billing": "payments, charges, refunds, invoices, receipts, discount codes",
}
CLARIFY = (
    "I can help with orders and deliveries, returns, product questions and billing. "
    "Which one is it about?"
)


@cache
def desk_router() -> SemanticRouter:
    """k, quantile, margin and the use of the out-of-scope examples are the best of
    `keel.routing.tuning.grid()` by 5-fold cross-validation on `train` alone
    (`python benchmarks/router_cv.py`): the held-out split played no part in them."""
    train = load_intents("train")
    routes = [
        Route(label, DESCRIPTIONS[label], [x.text for x in train if x.label == label])
        for label in ROUTE_LABELS
    ]
    outside = [x.text for x in train if x.label == "out_of_scope"]
    return SemanticRouter(
        routes,
        fallback=ClarifyingQuestion(CLARIFY),
        k=7,
        quantile=0.0,
        margin=0.0,
        out_of_scope=outside,
    )
