"""The reference app: a customer-support desk.

    keel chat --app keel.examples.support_desk:app      (or: make desk)

A semantic router sends each message to one of four specialists — orders, returns,
product, billing — without a model call when it is confident, and asks a clarifying
question when it is not. Each specialist has a short prompt and two narrow tools over
the desk's own SQLite store, so a 0.5B local model can carry it. Refunds wait for a
person's approval (`keel runs approve`) and every tool call passes the tool gateway
(validated, authorized by the desk's policy, deduplicated by the ledger, audited:
`keel audit verify`); frustration, explicit asks for a person, policy
topics, repeated tool failures, weak retrieval and repeated low routing confidence hand
the conversation to the human queue (`keel handoffs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from keel.agent import DEFAULT_MODEL, Agent
from keel.app import App
from keel.examples.support_desk import tools
from keel.examples.support_desk.routing import CLARIFY, desk_router
from keel.examples.support_desk.store import desk_store
from keel.guardrails.claims import ToolsDone, UnbackedClaims
from keel.guardrails.middleware import Guardrails
from keel.handoffs.human import HumanHandoff
from keel.models.base import Model, ModelSettings
from keel.policy import PolicyRequest, PolicySet, deny
from keel.routing import Routing, SemanticRouter
from keel.tools.gateway import ToolGateway

__all__ = ["app", "build_app"]

_STYLE = " Answer in one or two short sentences. Never invent facts; use your tools."
_PROMPTS = {
    "orders": "You handle order status and address changes for Keel Shop." + _STYLE,
    "returns": "You handle returns and exchanges for Keel Shop." + _STYLE,
    "product": "You answer product questions for Keel Shop from search_products." + _STYLE,
    "billing": "You handle payments and refunds for Keel Shop." + _STYLE,
}
_TOOLS: Mapping[str, list[Any]] = {
    "orders": [tools.lookup_order, tools.change_shipping_address],
    "returns": [tools.return_policy, tools.start_return],
    "product": [tools.search_products],
    "billing": [tools.payment_status, tools.refund_order],
}


def build_app(
    *,
    models: Mapping[str, str | Model] | None = None,
    router: SemanticRouter | None = None,
    database: str | Path | None = None,
) -> App:
    """The desk; `models` maps agent names to models (tests pass scripted ones)."""
    router = router or desk_router()
    chosen = dict(models or {})
    settings = ModelSettings(temperature=0.0, max_tokens=160)
    specialists = [
        Agent(
            name=name,
            instructions=_PROMPTS[name],
            model=chosen.get(name, DEFAULT_MODEL),
            tools=_TOOLS[name],
            model_settings=settings,
        )
        for name in _PROMPTS
    ]
    front = Agent(
        name="desk",
        instructions=f"You are Keel Shop's support desk. {CLARIFY}",
        model=chosen.get("desk", DEFAULT_MODEL),
        middleware=[Routing(router)],
        model_settings=settings,
    )
    router.check_agents([a.name for a in [front, *specialists]])
    app = App(
        agents=[front, *specialists],
        database=database,
        description="Customer-support desk: router, four specialists, approvals, people.",
        middleware=[HumanHandoff(router=router)],
    )
    gateway = ToolGateway(desk_policy(), database=app.database_path)  # ledger + audit beside
    honesty = Guardrails(output=[UnbackedClaims(DESK_CLAIMS)], reply=UNBACKED_REPLY)
    return replace(app, middleware=[*app.middleware, honesty, ToolsDone(), gateway])


DESK_CLAIMS = {
    "refund_order": (
        r"\b(?:your|the) refund (?:has been|was|is now) (?:processed|issued|approved|sent)"
        r"|\b(?:i|we)(?:'ve| have)? (?:processed|issued|approved|sent|requested) "
        r"(?:a|the|your)(?: full| partial)? refund"
    ),
    "change_shipping_address": (
        r"\baddress (?:has been|was|is now) (?:updated|changed)"
        r"|\b(?:i|we)(?:'ve| have)? (?:updated|changed) (?:your|the) (?:shipping )?address"
    ),
}
"""What the desk's agents must not say happened unless the tool ran in the same run."""

UNBACKED_REPLY = (
    "I can't confirm that this has been done. A colleague can take it from here: ask for a "
    "person, or ask me again and I'll pass it to the right team."
)


def desk_policy() -> PolicySet:
    """The desk's rules, read by the tool gateway: big refunds are finance's, not ours."""
    return PolicySet(
        [
            deny(
                tools=["refund_order"],
                when=_over_refund_limit,
                reason=f"refunds over {REFUND_LIMIT:.0f} go through the finance team",
            )
        ]
    )


REFUND_LIMIT = 200.0


def _over_refund_limit(request: PolicyRequest) -> bool:
    order = desk_store().order(str(request.arguments.get("order_id")))
    return order is not None and float(str(order["total"])) > REFUND_LIMIT


app = build_app()
