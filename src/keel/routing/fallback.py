"""What decides when the embeddings are not confident: `ModelClassifier` (the small
model, its answer constrained by a JSON schema to the route names or "none"),
`DefaultRoute`, or `ClarifyingQuestion`."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from keel.exceptions import ConfigurationError, ModelError
from keel.messages import Message
from keel.models.base import Model, ModelRequest, ModelSettings, OutputSchema
from keel.routing.routes import RouteDecision

if TYPE_CHECKING:
    from keel.routing.router import SemanticRouter

__all__ = ["ClarifyingQuestion", "DefaultRoute", "Fallback", "ModelClassifier"]


class Fallback(Protocol):
    async def decide(
        self, text: str, decision: RouteDecision, router: SemanticRouter
    ) -> RouteDecision: ...

    def check(self, router: SemanticRouter) -> None:
        """Raise ConfigurationError if it names a route the router lacks."""
        ...


@dataclass(frozen=True, slots=True)
class DefaultRoute:
    """Send what the embeddings could not place to `route`."""

    route: str

    async def decide(
        self, text: str, decision: RouteDecision, router: SemanticRouter
    ) -> RouteDecision:
        return replace(decision, route=self.route, fallback="default")

    def check(self, router: SemanticRouter) -> None:
        if self.route not in router.routes:
            raise ConfigurationError(
                f"default route {self.route!r} is not one of {sorted(router.routes)}"
            )


@dataclass(frozen=True, slots=True)
class ClarifyingQuestion:
    """Ask the customer what they mean instead of guessing."""

    question: str = (
        "Sorry, I want to get this right: is it about an order, a return, a product, or billing?"
    )

    async def decide(
        self, text: str, decision: RouteDecision, router: SemanticRouter
    ) -> RouteDecision:
        return replace(decision, fallback="clarify", question=self.question)

    def check(self, router: SemanticRouter) -> None:
        return None


_PROMPT = (
    "Classify the customer message into one category. Categories:\n{routes}\n"
    "- none: anything else.\nAnswer with JSON only."
)


@dataclass(frozen=True, slots=True)
class ModelClassifier:
    """The (small) model picks a route, its output constrained to the route names by a
    JSON schema; "none" keeps the message unrouted (then `then` decides, if given)."""

    model: str | Model = "local:qwen2.5-coder-0.5b"
    then: DefaultRoute | ClarifyingQuestion | None = None

    async def decide(
        self, text: str, decision: RouteDecision, router: SemanticRouter
    ) -> RouteDecision:
        label = await classify_with_model(self.model, router, text)
        if label != "none":
            return replace(decision, route=label, fallback="model", model_calls=1)
        unrouted = replace(decision, fallback="model", model_calls=1)
        if self.then is None:
            return unrouted
        decided = await self.then.decide(text, unrouted, router)
        return replace(decided, model_calls=1)

    def check(self, router: SemanticRouter) -> None:
        if self.then is not None:
            self.then.check(router)


def classifier_request(router: SemanticRouter, text: str) -> ModelRequest:
    names = [*router.routes, "none"]
    lines = "\n".join(f"- {r.name}: {r.description}" for r in router.routes.values())
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"category": {"type": "string", "enum": names}},
        "required": ["category"],
        "additionalProperties": False,
    }
    messages = [Message.system(_PROMPT.format(routes=lines)), Message.user(text)]
    settings = ModelSettings(temperature=0.0, max_tokens=20)
    return ModelRequest(messages, (), OutputSchema("route", schema), settings)


async def classify_with_model(model: str | Model, router: SemanticRouter, text: str) -> str:
    """The route name the model chose, or "none" (also for an answer it could not parse)."""
    from keel.models.registry import infer_model

    response = await infer_model(model).request(classifier_request(router, text))
    try:
        label = json.loads(response.message.text).get("category", "none")
    except (ValueError, AttributeError) as exc:
        raise ModelError(f"the classifier answered non-JSON: {response.message.text!r}") from exc
    return label if label in router.routes else "none"
