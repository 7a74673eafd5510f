"""Tiers: rules settle clear cases, a classifier the rest, overrides win; the decision is
a run event and a span attribute."""

from __future__ import annotations

import pytest

from keel import Agent, MiddlewareDecision, RunEvent, Runner
from keel.exceptions import ConfigurationError
from keel.messages import Message, ModelResponse
from keel.middleware import Middleware, ModelCall, ModelHandler
from keel.models.base import ModelRequest
from keel.models.tiers import ModelClassifier, Tier, TieredModel, use_tier
from keel.testing import FunctionModel, ScriptedModel


def tiers(**kwargs: object) -> tuple[TieredModel, ScriptedModel, ScriptedModel]:
    cheap = ScriptedModel(["cheap answer"] * 5, model_name="small")
    strong = ScriptedModel(["strong answer"] * 5, model_name="large")
    return TieredModel(cheap, strong, **kwargs), cheap, strong  # type: ignore[arg-type]


def ask(text: str) -> ModelRequest:
    return ModelRequest([Message.user(text)])


async def test_rules_send_short_questions_cheap_and_hard_ones_strong() -> None:
    model, cheap, strong = tiers()
    assert (await model.request(ask("What are your opening hours?"))).message.text == "cheap answer"
    hard = "Compare the two refund policies and explain the trade-offs for a small shop."
    assert (await model.request(ask(hard))).message.text == "strong answer"
    code = "Why does this fail?\n```python\nprint(1/0)\n```"
    await model.request(ask(code))
    assert (len(cheap.requests), len(strong.requests)) == (1, 2)
    assert [d.by for d in model.decisions] == ["rule", "rule", "rule"]
    assert model.decisions[2].reason == "request contains code"


class FixedClassifier:
    def __init__(self, tier: Tier) -> None:
        self.tier: Tier = tier
        self.seen: list[str] = []

    async def classify(self, text: str) -> Tier:
        self.seen.append(text)
        return self.tier


async def test_the_classifier_settles_what_no_rule_does() -> None:
    classifier = FixedClassifier("strong")
    model, _, strong = tiers(classifier=classifier)
    middling = "I ordered a blue jacket last week, size M. " * 5  # neither short nor hard
    await model.request(ask(middling))
    assert classifier.seen == [middling]
    assert len(strong.requests) == 1
    assert model.decisions[-1].by == "classifier"
    await model.request(ask("hi"))
    assert len(classifier.seen) == 1  # a rule settled it: the classifier was not asked


async def test_without_a_classifier_the_default_tier_answers() -> None:
    model, cheap, _ = tiers(default="cheap")
    await model.request(ask("I ordered a blue jacket last week, size M. " * 5))
    assert model.decisions[-1].by == "default" and len(cheap.requests) == 1


async def test_an_override_wins_per_request() -> None:
    model, _, strong = tiers()
    with use_tier("strong"):
        await model.request(ask("hi"))
    assert len(strong.requests) == 1 and model.decisions[-1].by == "override"
    with (
        pytest.raises(ConfigurationError, match="tier must be one of cheap, strong"),
        use_tier("medium"),  # type: ignore[arg-type]
    ):
        pass


class PreferStrong(Middleware):
    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        call.context.metadata["keel.tier"] = "strong"
        return await call_next(call)


class Recorder:
    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    async def on_event(self, event: RunEvent) -> None:
        self.events.append(event)


async def test_the_decision_is_a_run_event_and_run_metadata_overrides_it() -> None:
    model, _, strong = tiers()
    recorder = Recorder()
    agent = Agent(name="support", model=model, middleware=[PreferStrong()])
    await Runner(hooks=[recorder]).run(agent, "hi")
    [decision] = [e for e in recorder.events if isinstance(e, MiddlewareDecision)]
    assert decision.kind == "tier"
    assert decision.detail.startswith("strong tier (test:large) by override")
    assert len(strong.requests) == 1


async def test_a_model_classifier_asks_for_a_constrained_greedy_verdict() -> None:
    seen: list[ModelRequest] = []

    def small(request: ModelRequest) -> str:
        seen.append(request)
        return '{"tier": "strong"}'

    classifier = ModelClassifier(FunctionModel(small))
    assert await classifier.classify("Plan a migration of our billing system") == "strong"
    [request] = seen
    assert request.output_schema is not None
    assert request.output_schema.schema["properties"]["tier"]["enum"] == ["cheap", "strong"]


def test_a_bad_default_tier_is_refused_at_load() -> None:
    with pytest.raises(ConfigurationError, match=r"TieredModel\.default"):
        TieredModel(ScriptedModel([]), ScriptedModel([]), default="huge")  # type: ignore[arg-type]


async def test_invalid_output_after_repairs_escalates_a_run_to_the_strong_tier() -> None:
    from pydantic import BaseModel

    from keel import RunLimits

    class Verdict(BaseModel):
        approve: bool

    cheap = ScriptedModel(['{"approve": "maybe"}'], model_name="small")
    strong = ScriptedModel(['{"approve": false}'], model_name="large")
    model = TieredModel(cheap, strong, rules=[], default="cheap")
    agent = Agent(
        name="judge", model=model, output_type=Verdict, limits=RunLimits(max_output_retries=0)
    )
    result = await Runner().run(agent, "approve?")
    assert result.output == Verdict(approve=False)
    assert [d.tier for d in model.decisions] == ["cheap", "strong"]
