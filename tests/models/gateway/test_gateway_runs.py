"""The gateway inside real runs: decisions as run events, spans, tickets that name the
run and its principal, cost in the run's usage, and limits that stop a run before the
call that could overspend."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from keel import (
    Agent,
    MiddlewareDecision,
    Principal,
    RunEvent,
    RunFailed,
    RunLimits,
    Runner,
    TextDelta,
    UsageLimitExceeded,
)
from keel.models.errors import ModelCallError
from keel.models.gateway import LastResort, ModelGateway, RetryPolicy
from keel.models.openai import OpenAIModel
from keel.resilience import Backoff, ManualClock
from keel.testing.fake_llm import FakeLLMServer, FakeReply, Fault
from keel.tickets import InMemoryTicketSink
from tests.tracing_support import Traced

FIXED = Backoff(base=1.0, random=lambda: 0.5)


def chain(
    server: FakeLLMServer, *names: str, sink: InMemoryTicketSink | None = None
) -> ModelGateway:
    return ModelGateway(
        [OpenAIModel(n, base_url=server.base_url, api_key="k") for n in names],
        retry=RetryPolicy(max_attempts=2, backoff=FIXED),
        last_resort=LastResort(tickets=sink or InMemoryTicketSink()),
        clock=ManualClock(),
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    async def on_event(self, event: RunEvent) -> None:
        self.events.append(event)


async def test_retries_and_fallbacks_are_run_events(openai_server: FakeLLMServer) -> None:
    openai_server.script(Fault.http(503), Fault.http(503), FakeReply("from mini"))
    recorder = Recorder()
    agent = Agent(name="support", model=chain(openai_server, "gpt-4o", "gpt-4o-mini"))
    result = await Runner(hooks=[recorder]).run(agent, "hi")
    assert result.output == "from mini"
    decisions = [
        (e.middleware, e.kind) for e in recorder.events if isinstance(e, MiddlewareDecision)
    ]
    assert decisions == [("ModelGateway", "retry"), ("ModelGateway", "fallback")]


async def test_the_answering_model_and_retries_are_on_the_chat_span(
    openai_server: FakeLLMServer,
) -> None:
    traced = Traced()
    openai_server.script(Fault.http(429, retry_after=1), FakeReply("ok"))
    agent = Agent(name="support", model=chain(openai_server, "gpt-4o"))
    await traced.runner.run(agent, "hi")
    [span] = [s for s in traced.spans() if s.name.startswith("chat")]
    attributes: dict[str, Any] = dict(span.attributes or {})
    assert attributes["keel.gateway.answered_by"] == "openai:gpt-4o"
    assert attributes["gen_ai.response.model"] == "gpt-4o"
    assert [e.name for e in span.events] == ["keel.gateway.retry"]


async def test_total_failure_answers_honestly_and_opens_a_ticket_naming_the_run(
    openai_server: FakeLLMServer,
) -> None:
    sink = InMemoryTicketSink()
    openai_server.default = FakeReply()
    openai_server.script(*[Fault.http(500)] * 2)
    agent = Agent(name="support", model=chain(openai_server, "gpt-4o", sink=sink))
    principal = Principal(user_id="ada", tenant_id="acme")
    result = await Runner().run(agent, "help", principal=principal)
    assert result.status == "completed"
    assert result.output == LastResort().reply
    [ticket] = sink.tickets
    assert (ticket.run_id, ticket.user_id, ticket.tenant_id) == (result.run_id, "ada", "acme")


async def test_a_stream_that_breaks_after_text_fails_the_run_cleanly(
    openai_server: FakeLLMServer,
) -> None:
    openai_server.script(Fault.cut_stream(FakeReply("partial answer here"), after_chunks=2))
    agent = Agent(name="support", model=chain(openai_server, "gpt-4o", "gpt-4o-mini"))
    events: list[RunEvent] = []
    recorder = Recorder()
    with pytest.raises(ModelCallError) as raised:
        async for event in Runner(hooks=[recorder]).stream(agent, "hi"):
            events.append(event)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "partial"  # once, and no fallback's answer after it
    failed = recorder.events[-1]
    assert isinstance(failed, RunFailed) and failed.error is raised.value
    assert len(openai_server.requests) == 1


class Verdict(BaseModel):
    approve: bool


async def test_a_structured_run_with_every_tier_down_ends_blocked_with_the_reply(
    openai_server: FakeLLMServer,
) -> None:
    from keel.models.errors import ModelUnavailableError

    openai_server.script(*[Fault.http(503)] * 2)
    agent = Agent(name="judge", model=chain(openai_server, "gpt-4o"), output_type=Verdict)
    with pytest.raises(ModelUnavailableError) as raised:
        await Runner().run(agent, "approve?")
    assert raised.value.reply == LastResort().reply


async def test_the_runs_usage_carries_cost_and_cached_tokens(openai_server: FakeLLMServer) -> None:
    openai_server.script(
        FakeReply("a", usage=(1000, 100, 500)), FakeReply("b", usage=(2000, 100, 0))
    )
    agent = Agent(name="support", model=chain(openai_server, "gpt-4o-mini"))
    runner = Runner()
    first = await runner.run(agent, "one")
    second = await runner.run(agent, "two")
    total = first.usage + second.usage
    assert total.cached_input_tokens == 500
    # gpt-4o-mini: $0.15/M input, $0.075/M cached, $0.60/M output
    expected = (500 * 0.15 + 500 * 0.075 + 100 * 0.60) / 1e6 + (2000 * 0.15 + 100 * 0.60) / 1e6
    assert total.cost == pytest.approx(expected)


async def test_a_cost_limit_stops_the_run_before_the_call_that_could_overspend(
    openai_server: FakeLLMServer,
) -> None:
    from keel import tool

    @tool
    def lookup(order_id: str) -> str:
        """Look up an order."""
        return "shipped"

    openai_server.script(FakeReply.calling("lookup", {"order_id": "A1"}, usage=(4000, 50, 0)))
    # gpt-4o: the first call costs 4000*2.5/M + 50*10/M = $0.0105; the limit leaves less
    # than the next prompt's input cost, so the second call is never sent.
    limits = RunLimits(max_cost=0.0106)
    model = OpenAIModel("gpt-4o", base_url=openai_server.base_url, api_key="k")
    agent = Agent(name="support", model=model, tools=[lookup], limits=limits)
    with pytest.raises(UsageLimitExceeded) as raised:
        await Runner().run(agent, "where is A1?")
    assert raised.value.limit == "max_cost"
    assert len(openai_server.requests) == 1


async def test_a_token_limit_caps_the_answer_to_what_is_left(openai_server: FakeLLMServer) -> None:
    model = OpenAIModel("gpt-4o", base_url=openai_server.base_url, api_key="k")
    agent = Agent(name="support", model=model, limits=RunLimits(max_total_tokens=500))
    result = await Runner().run(agent, "hi")
    assert result.status == "completed"
    max_tokens = openai_server.requests[0].body["max_tokens"]
    assert 0 < max_tokens < 500  # what the limit leaves after the prompt, not 16k


async def test_a_prompt_alone_over_the_limit_is_never_sent(openai_server: FakeLLMServer) -> None:
    model = OpenAIModel("gpt-4o", base_url=openai_server.base_url, api_key="k")
    agent = Agent(name="support", model=model, limits=RunLimits(max_input_tokens=5))
    with pytest.raises(UsageLimitExceeded, match="max_input_tokens"):
        await Runner().run(agent, "a question longer than five tokens, surely")
    assert openai_server.requests == []


async def test_output_still_invalid_after_repairs_moves_the_run_to_the_next_model() -> None:
    from keel.testing import ScriptedModel

    weak = ScriptedModel(['{"approve": "maybe"}'] * 2, model_name="weak")
    strong = ScriptedModel(['{"approve": true}'], model_name="strong")
    agent = Agent(
        name="judge",
        model=ModelGateway([weak, strong]),
        output_type=Verdict,
        limits=RunLimits(max_output_retries=1),
    )
    recorder = Recorder()
    result = await Runner(hooks=[recorder]).run(agent, "approve?")
    assert result.output == Verdict(approve=True)
    assert (len(weak.requests), len(strong.requests)) == (2, 1)  # one repair, then moved on
    details = [e.detail for e in recorder.events if isinstance(e, MiddlewareDecision)]
    assert any("this run moved to test:strong" in d for d in details)


async def test_at_the_end_of_the_chain_invalid_output_fails_as_before() -> None:
    from keel.exceptions import OutputValidationError
    from keel.testing import ScriptedModel

    only = ScriptedModel(['{"approve": "maybe"}'] * 2)
    agent = Agent(
        name="judge",
        model=ModelGateway([only]),
        output_type=Verdict,
        limits=RunLimits(max_output_retries=1),
    )
    with pytest.raises(OutputValidationError):
        await Runner().run(agent, "approve?")


async def test_a_streamed_run_falls_back_before_the_first_token_without_a_trace(
    openai_server: FakeLLMServer,
) -> None:
    openai_server.script(
        Fault.cut_stream(FakeReply("lost words"), after_chunks=1), FakeReply("kept words")
    )
    agent = Agent(name="support", model=chain(openai_server, "gpt-4o"))
    events = [e async for e in Runner().stream(agent, "hi")]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "kept words"
