"""`Route` and `RouteDecision`: what a router knows and what it decided."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from keel.exceptions import ConfigurationError

__all__ = ["Decision", "Route", "RouteDecision", "check_routes"]

Decision = Literal["confident", "ambiguous", "below_threshold", "empty"]
"""confident: one route clears its threshold by the margin; ambiguous: the top two are
within the margin; below_threshold: no route clears its threshold; empty: no text."""


@dataclass(frozen=True, slots=True)
class Route:
    """A destination: its example utterances and a one-line description, and the agent
    that serves it (defaults to the route's name). `threshold` overrides calibration."""

    name: str
    description: str
    examples: Sequence[str]
    agent: str | None = None
    threshold: float | None = None

    @property
    def target(self) -> str:
        return self.agent or self.name


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where a message goes and why; `scores` has every route's similarity."""

    route: str | None
    decision: Decision
    scores: Mapping[str, float]
    thresholds: Mapping[str, float]
    fallback: str | None = None
    """What decided when the embeddings did not: "model", "default" or "clarify"."""
    question: str | None = None
    """The clarifying question to ask instead of answering (fallback "clarify")."""
    model_calls: int = 0
    extra: dict[str, Any] = field(default_factory=dict[str, Any])

    @property
    def confident(self) -> bool:
        return self.decision == "confident"

    def record(self) -> dict[str, Any]:
        """JSON for the run record and `keel route --json`."""
        return {
            "route": self.route,
            "decision": self.decision,
            "fallback": self.fallback,
            "question": self.question,
            "model_calls": self.model_calls,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "thresholds": {k: round(v, 4) for k, v in self.thresholds.items()},
        }


def check_routes(routes: Sequence[Route]) -> None:
    """Names unique and non-empty; every route has examples; thresholds in [-1, 1]."""
    if not routes:
        raise ConfigurationError("a router needs at least one route")
    names = [r.name for r in routes]
    for route in routes:
        if not route.name.strip():
            raise ConfigurationError("a route needs a non-empty name")
        if names.count(route.name) > 1:
            raise ConfigurationError(f"two routes are named {route.name!r}")
        if len([e for e in route.examples if e.strip()]) < 2:
            raise ConfigurationError(
                f"route {route.name!r} needs at least 2 example utterances to calibrate"
            )
        if route.threshold is not None and not -1.0 <= route.threshold <= 1.0:
            raise ConfigurationError(
                f"route {route.name!r}: threshold {route.threshold} is not a cosine in [-1, 1]"
            )
