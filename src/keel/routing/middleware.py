"""`Routing`: the router as input middleware of a front agent.

On a run's input it routes the customer's message; a confident route (or one the
fallback chose) hands the run to that route's agent before any model is called; a
clarifying question answers in the model's place. The decision and every score go into
the run record (`ctx.metadata["keel.route"]`) and onto a `route` span.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace

from keel._run.handoff import HANDOFF_KEY
from keel.context import RunContext
from keel.handoffs.human.middleware import ESCALATE_KEY
from keel.messages import Message
from keel.middleware import Middleware, Respond
from keel.routing.router import SemanticRouter
from keel.routing.routes import RouteDecision

__all__ = ["ROUTE_KEY", "Routing", "span_attributes"]

ROUTE_KEY = "keel.route"


class Routing(Middleware):
    """Put on the front agent: `Agent(..., middleware=[Routing(router)])`."""

    def __init__(self, router: SemanticRouter, *, tracer: trace.Tracer | None = None) -> None:
        self.router = router
        self._tracer = tracer

    def check_agents(self, agents: Sequence[str]) -> None:
        """Called by `App` at load: every route's agent must be one of the app's."""
        self.router.check_agents(agents)

    async def on_input(self, ctx: RunContext, messages: list[Message]) -> list[Message] | Respond:
        if ctx.step > 0 or ESCALATE_KEY in ctx.metadata:
            return messages  # mid-run text (a rejection reason), or going to a person
        text = next((m.text for m in reversed(messages) if m.role == "user"), "")
        tracer = self._tracer or trace.get_tracer("keel")
        with tracer.start_as_current_span("route") as span:
            decision = await self.router.route(text)
            if span.is_recording():
                span.set_attributes(span_attributes(decision))
        ctx.metadata[ROUTE_KEY] = decision.record()
        if decision.question is not None:
            return Respond(decision.question)
        if decision.route is not None:
            target = self.router.target(decision.route)
            if target != ctx.agent_name:
                reason = f"route {decision.route} ({decision.fallback or decision.decision})"
                ctx.metadata[HANDOFF_KEY] = {"to": target, "reason": reason}
        return messages


def span_attributes(decision: RouteDecision) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "keel.route.decision": decision.decision,
        "keel.route.name": decision.route or "",
        "keel.route.fallback": decision.fallback or "",
        "keel.route.model_calls": decision.model_calls,
    }
    for name, score in decision.scores.items():
        attributes[f"keel.route.score.{name}"] = round(score, 4)
    return attributes
