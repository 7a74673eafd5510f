"""`SemanticRouter`: route a message by embedding similarity to example utterances.

Confident decisions cost one embedding (~2.5 ms of one CPU core with the default
`int8_embedder()`) and no model call. A route
is confident when its score clears its threshold (calibrated leave-one-out from its own
examples, see `keel.routing.index`) and beats the runner-up by `margin`. Otherwise the
configured `Fallback` decides: the small model as a schema-constrained classifier, a
default route, or a clarifying question.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from keel.exceptions import ConfigurationError
from keel.routing.index import Method, RouteIndex
from keel.routing.routes import Route, RouteDecision, check_routes

if TYPE_CHECKING:
    from keel.embeddings import Embedder
    from keel.routing.fallback import Fallback

__all__ = ["SemanticRouter"]


class SemanticRouter:
    """Routes from example utterances and descriptions.

    `out_of_scope` examples (messages no route should take) raise thresholds so they fall
    through. `quantile` is the share of a route's own (left-out) examples allowed under
    its threshold. The embeddings of the routes are computed once, on first use.
    """

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        fallback: Fallback | None = None,
        embedder: Embedder | None = None,
        margin: float = 0.02,
        method: Method = "nearest",
        k: int = 3,
        quantile: float = 0.05,
        out_of_scope: Sequence[str] = (),
    ) -> None:
        check_routes(routes)
        if not 0.0 <= quantile < 0.5:
            raise ConfigurationError(f"quantile {quantile} must be in [0, 0.5)")
        self.routes = {r.name: r for r in routes}
        self.fallback = fallback
        self.margin = margin
        self.method: Method = method
        self.k = k
        self.quantile = quantile
        self.out_of_scope = [t for t in out_of_scope if t.strip()]
        self._embedder = embedder
        self._last: tuple[str, RouteDecision] | None = None
        """The last decision: the human handoff and `Routing` ask about the same message."""

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from keel.embeddings import int8_embedder

            self._embedder = int8_embedder()
        return self._embedder

    @cached_property
    def index(self) -> RouteIndex:
        groups = [
            self.embedder.embed([r.description, *[e for e in r.examples if e.strip()]])
            for r in self.routes.values()
        ]
        return RouteIndex.build(list(self.routes), groups, self.method, self.k)

    @cached_property
    def thresholds(self) -> dict[str, float]:
        outside = self.embedder.embed(self.out_of_scope) if self.out_of_scope else None
        calibrated = self.index.calibrate(self.quantile, outside)
        return {
            name: route.threshold if route.threshold is not None else calibrated[i]
            for i, (name, route) in enumerate(self.routes.items())
        }

    def warm(self) -> None:
        """Embed the routes and calibrate now, not on the first message."""
        _ = self.thresholds

    def scores(self, text: str) -> dict[str, float]:
        row = self.index.scores(self.embedder.embed([text]))[0]
        return {name: float(row[i]) for i, name in enumerate(self.routes)}

    def classify(self, text: str) -> RouteDecision:
        """The embedding decision alone: never calls a model (synchronous, ~ms)."""
        last = self._last
        if last is not None and last[0] == text:
            return last[1]
        decision = self._classify(text)
        self._last = (text, decision)
        return decision

    def _classify(self, text: str) -> RouteDecision:
        thresholds = self.thresholds
        if not text.strip():
            return RouteDecision(None, "empty", {}, thresholds)
        scores = self.scores(text)
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)
        best = ranked[0]
        if scores[best] < thresholds[best]:
            return RouteDecision(None, "below_threshold", scores, thresholds)
        runner_up = scores[ranked[1]] if len(ranked) > 1 else -1.0
        if scores[best] - runner_up < self.margin:
            return RouteDecision(None, "ambiguous", scores, thresholds)
        return RouteDecision(best, "confident", scores, thresholds)

    async def route(self, text: str) -> RouteDecision:
        """Classify; when not confident, let the fallback decide (if there is one)."""
        decision = self.classify(text)
        if decision.confident or self.fallback is None:
            return decision
        return await self.fallback.decide(text, decision, self)

    def target(self, route: str) -> str:
        """The agent that serves `route`."""
        return self.routes[route].target

    def check_agents(self, agents: Sequence[str]) -> None:
        """Every route's agent exists; ConfigurationError naming the first that does not."""
        for route in self.routes.values():
            if route.target not in agents:
                raise ConfigurationError(
                    f"route {route.name!r} sends to agent {route.target!r}, which is not one "
                    f"of {sorted(agents)}"
                )
        if self.fallback is not None:
            self.fallback.check(self)
