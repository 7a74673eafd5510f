"""Tiers: a cheap model for simple requests, a strong one for complex ones.

`TieredModel` decides per request, in order: a per-request override (`use_tier`, or
`RunContext.metadata["keel.tier"]`), then rules (fast, explainable: long or code-heavy
requests, analysis words, many tools → strong; short plain questions → cheap), then —
for what no rule settles — a classifier (by default none; `ModelClassifier` asks a small
model, greedy and schema-constrained), else the default tier. The decision is recorded as
a `MiddlewareDecision` event (kind `tier`) and on the span (`keel.tier`, `keel.tier.by`).

Offline: `offline_tiers()` is the 0.5B for cheap and the 1.5B for strong.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, Protocol, cast, get_args

from pydantic import BaseModel

from keel.context import RunContext
from keel.exceptions import ConfigurationError
from keel.messages import Message, ModelResponse
from keel.middleware.base import current_model_call
from keel.models._notes import note, set_span_attributes
from keel.models.base import Model, ModelRequest, ModelStreamEvent, OutputSchema
from keel.models.budget import profile_of
from keel.models.profiles import ModelProfile
from keel.models.registry import infer_model

__all__ = [
    "Classifier",
    "ModelClassifier",
    "Tier",
    "TierDecision",
    "TierRule",
    "TieredModel",
    "default_rules",
    "offline_tiers",
    "use_tier",
]

Tier = Literal["cheap", "strong"]
TIERS: tuple[str, ...] = get_args(Tier)
METADATA_KEY = "keel.tier"


@dataclass(frozen=True, slots=True)
class TierDecision:
    tier: Tier
    reason: str
    by: Literal["override", "rule", "classifier", "default"]


TierRule = Callable[[ModelRequest], TierDecision | None]
"""A rule looks at a request and settles the tier, or passes (None)."""


class Classifier(Protocol):
    async def classify(self, text: str) -> Tier: ...


_override: ContextVar[Tier | None] = ContextVar("keel_tier_override", default=None)


@contextmanager
def use_tier(tier: Tier) -> Generator[None]:
    """Every tiered call inside the block uses `tier` (a per-request override)."""
    _check_tier(tier, "use_tier")
    token = _override.set(tier)
    try:
        yield
    finally:
        _override.reset(token)


def _check_tier(tier: object, where: str) -> Tier:
    if tier not in TIERS:
        raise ConfigurationError(f"{where}: tier must be one of {', '.join(TIERS)}, got {tier!r}")
    return cast("Tier", tier)


def _last_user_text(request: ModelRequest) -> str:
    users = [m for m in request.messages if m.role == "user"]
    return users[-1].text if users else ""


_HARD_WORDS = re.compile(
    r"\b(analy[sz]e|analysis|compare|explain why|step[- ]by[- ]step|prove|debug|refactor|"
    r"design|architecture|trade-?offs?|optimi[sz]e|plan|strategy|root cause)\b",
    re.IGNORECASE,
)


def default_rules(
    *, long_chars: int = 1_200, short_chars: int = 160, many_tools: int = 6
) -> list[TierRule]:
    """Rules that settle the clear cases; the rest is left to the classifier."""

    def long_request(request: ModelRequest) -> TierDecision | None:
        if len(_last_user_text(request)) > long_chars:
            return TierDecision("strong", f"request longer than {long_chars} characters", "rule")
        return None

    def code_or_analysis(request: ModelRequest) -> TierDecision | None:
        text = _last_user_text(request)
        if "```" in text:
            return TierDecision("strong", "request contains code", "rule")
        found = _HARD_WORDS.search(text)
        return TierDecision("strong", f"asks to {found[0].lower()}", "rule") if found else None

    def many(request: ModelRequest) -> TierDecision | None:
        if len(request.tools) >= many_tools:
            return TierDecision("strong", f"{len(request.tools)} tools to choose from", "rule")
        return None

    def short_plain(request: ModelRequest) -> TierDecision | None:
        if len(_last_user_text(request)) <= short_chars and not request.output_schema:
            return TierDecision("cheap", f"short request (≤ {short_chars} characters)", "rule")
        return None

    return [long_request, code_or_analysis, many, short_plain]


class _Verdict(BaseModel):
    tier: Tier


_CLASSIFY = (
    "Classify the user's request for routing. Answer 'cheap' if a small model can answer "
    "it well (a greeting, a fact lookup, a short question, a simple rewrite); answer "
    "'strong' if it needs reasoning, several steps, code, or careful writing."
)


class ModelClassifier:
    """Asks `model` (a small, fast one) to classify; greedy and schema-constrained, so
    the same request always gets the same tier."""

    def __init__(self, model: Model | str) -> None:
        self.model = infer_model(model)
        self._schema = OutputSchema("Tier", _Verdict.model_json_schema())

    async def classify(self, text: str) -> Tier:
        request = ModelRequest(
            [Message.system(_CLASSIFY), Message.user(text)], output_schema=self._schema
        )
        token = current_model_call.set(None)  # its own call: notes stay off the run's
        try:
            response = await self.model.request(request)
        finally:
            current_model_call.reset(token)
        return _Verdict.model_validate_json(response.message.text).tier


class TieredModel:
    """A `Model` that sends each request to its cheap or its strong model."""

    def __init__(
        self,
        cheap: Model | str,
        strong: Model | str,
        *,
        rules: Sequence[TierRule] | None = None,
        classifier: Classifier | None = None,
        default: Tier = "cheap",
    ) -> None:
        self.cheap = infer_model(cheap)
        self.strong = infer_model(strong)
        self.rules = list(default_rules() if rules is None else rules)
        self.classifier = classifier
        self.default: Tier = _check_tier(default, "TieredModel.default")
        self.profile = _wider(profile_of(self.cheap), profile_of(self.strong))
        self.decisions: list[TierDecision] = []
        """Every decision taken, in order (most recent last; kept for inspection)."""

    @property
    def name(self) -> str:
        return f"tiers({self.cheap.name},{self.strong.name})"

    @property
    def provider(self) -> str:
        return "tiers"

    async def choose(self, request: ModelRequest) -> TierDecision:
        override = _override.get() or _metadata_tier()
        if override is not None:
            return TierDecision(override, "overridden for this request", "override")
        for rule in self.rules:
            decision = rule(request)
            if decision is not None:
                return decision
        if self.classifier is not None:
            tier = await self.classifier.classify(_last_user_text(request))
            return TierDecision(tier, "the classifier's verdict", "classifier")
        return TierDecision(self.default, "no rule applied", "default")

    async def _route(self, request: ModelRequest) -> Model:
        decision = await self.choose(request)
        self.decisions.append(decision)
        del self.decisions[:-100]
        model = self.strong if decision.tier == "strong" else self.cheap
        chosen = f"{decision.tier} tier ({model.provider}:{model.name})"
        note("tier", f"{chosen} by {decision.by}: {decision.reason}")
        set_span_attributes({"keel.tier": decision.tier, "keel.tier.by": decision.by})
        return model

    def escalate(self, context: RunContext) -> bool:
        """Serve the rest of this run from the strong model (the loop asks when the
        output stays invalid after repairs); False if it already is."""
        if context.metadata.get(METADATA_KEY) == "strong":
            return False
        context.metadata[METADATA_KEY] = "strong"  # the next decision says so
        return True

    async def request(self, request: ModelRequest) -> ModelResponse:
        return await (await self._route(request)).request(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        model = await self._route(request)
        async for event in model.stream(request):
            yield event


def _metadata_tier() -> Tier | None:
    call = current_model_call.get()
    if call is None:
        return None
    wanted = call.context.metadata.get(METADATA_KEY)
    return None if wanted is None else _check_tier(wanted, f"RunContext.metadata[{METADATA_KEY!r}]")


def _wider(a: ModelProfile, b: ModelProfile) -> ModelProfile:
    return ModelProfile(
        context_window=max(a.context_window, b.context_window),
        max_output_tokens=max(a.max_output_tokens, b.max_output_tokens),
        input_price=max(a.input_price, b.input_price),
        output_price=max(a.output_price, b.output_price),
        encoding=a.encoding,
    )


def offline_tiers(*, classifier: bool = False) -> TieredModel:
    """The offline default: Qwen2.5-Coder 0.5B cheap, 1.5B strong; with `classifier`,
    the 0.5B also settles what the rules leave open."""
    cheap = infer_model("local:qwen2.5-coder-0.5b")
    return TieredModel(
        cheap,
        "local:qwen2.5-coder-1.5b",
        classifier=ModelClassifier(cheap) if classifier else None,
    )
