"""Semantic intent routing: example utterances → embeddings → a route, without a model
call when the match is confident. See `SemanticRouter`."""

from keel.routing.fallback import ClarifyingQuestion, DefaultRoute, Fallback, ModelClassifier
from keel.routing.middleware import ROUTE_KEY, Routing
from keel.routing.router import SemanticRouter
from keel.routing.routes import Route, RouteDecision

__all__ = [
    "ROUTE_KEY",
    "ClarifyingQuestion",
    "DefaultRoute",
    "Fallback",
    "ModelClassifier",
    "Route",
    "RouteDecision",
    "Routing",
    "SemanticRouter",
]
