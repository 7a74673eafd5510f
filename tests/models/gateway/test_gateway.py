"""`ModelGateway` against real HTTP fake servers: retries on a manual clock, breakers
shared across gateways, fallback order, streams, timeouts and the last tier."""

from __future__ import annotations

import pytest

from keel.exceptions import ConfigurationError
from keel.messages import Message, ModelResponse
from keel.models.anthropic import AnthropicModel
from keel.models.base import Model, ModelRequest, OutputSchema, TextDelta
from keel.models.errors import BadRequestError, ModelOverloadedError, ModelUnavailableError
from keel.models.gateway import BreakerPolicy, LastResort, ModelGateway, RetryPolicy
from keel.models.openai import OpenAIModel
from keel.models.profiles import ModelProfile
from keel.resilience import Backoff, ManualClock, breaker_for
from keel.testing import ScriptedModel
from keel.testing.fake_llm import FakeLLMServer, FakeReply, Fault
from keel.tickets import InMemoryTicketSink

ASK = ModelRequest([Message.user("Where is my order?")])
HALF = Backoff(base=1.0, factor=2.0, random=lambda: 0.5)  # a known draw: half the cap


def openai_at(server: FakeLLMServer, name: str = "gpt-4o", **kwargs: object) -> OpenAIModel:
    return OpenAIModel(name, base_url=server.base_url, api_key="k", **kwargs)  # type: ignore[arg-type]


def claude_at(server: FakeLLMServer) -> AnthropicModel:
    return AnthropicModel("claude-sonnet-4", base_url=server.base_url, api_key="k")


def gateway(
    *models: Model,
    clock: ManualClock,
    attempts: int = 3,
    sink: InMemoryTicketSink | None = None,
    threshold: int = 5,
) -> ModelGateway:
    return ModelGateway(
        list(models),
        retry=RetryPolicy(max_attempts=attempts, backoff=HALF),
        breaker=BreakerPolicy(failure_threshold=threshold, reset_timeout=30),
        last_resort=LastResort(tickets=sink or InMemoryTicketSink()),
        clock=clock,
    )


async def test_retries_wait_per_backoff_and_honour_retry_after(
    openai_server: FakeLLMServer,
) -> None:
    clock = ManualClock()
    openai_server.script(Fault.http(503), Fault.http(429, retry_after=4), FakeReply("done"))
    response = await gateway(openai_at(openai_server), clock=clock).request(ASK)
    assert response.message.text == "done"
    assert len(openai_server.requests) == 3
    assert clock.sleeps == [0.5, 4.0]  # half of the 1s cap, then the server's Retry-After


async def test_a_chain_falls_back_in_order_and_says_who_answered(
    openai_server: FakeLLMServer, anthropic_server: FakeLLMServer
) -> None:
    clock = ManualClock()
    openai_server.script(Fault.http(500), Fault.reset())
    anthropic_server.script(FakeReply("from claude"))
    chain = gateway(openai_at(openai_server), claude_at(anthropic_server), clock=clock, attempts=2)
    response = await chain.request(ASK)
    assert (response.provider, response.model_name, response.message.text) == (
        "anthropic",
        "claude-sonnet-4",
        "from claude",
    )
    assert (len(openai_server.requests), len(anthropic_server.requests)) == (2, 1)
    assert clock.sleeps == [0.5]  # one retry of the first model, then straight on


async def test_errors_that_no_model_can_help_are_raised_at_once(
    openai_server: FakeLLMServer, anthropic_server: FakeLLMServer
) -> None:
    openai_server.script(Fault.http(422, message="bad tool schema"))
    chain = gateway(openai_at(openai_server), claude_at(anthropic_server), clock=ManualClock())
    with pytest.raises(BadRequestError, match="bad tool schema"):
        await chain.request(ASK)
    assert anthropic_server.requests == []


async def test_a_too_long_prompt_moves_to_a_model_with_a_larger_window(
    openai_server: FakeLLMServer,
) -> None:
    small = openai_at(openai_server, "small", profile=ModelProfile(context_window=8_000))
    same = openai_at(openai_server, "same", profile=ModelProfile(context_window=8_000))
    large = openai_at(openai_server, "large", profile=ModelProfile(context_window=128_000))
    openai_server.script(Fault.context_length(), FakeReply("fits"))
    response = await gateway(small, same, large, clock=ManualClock()).request(ASK)
    assert response.message.text == "fits"
    assert [r.body["model"] for r in openai_server.requests] == ["small", "large"]


async def test_the_breaker_opens_and_is_shared_by_every_gateway_on_the_endpoint(
    openai_server: FakeLLMServer, anthropic_server: FakeLLMServer
) -> None:
    clock = ManualClock()
    primary = openai_at(openai_server)
    openai_server.script(*[Fault.http(503)] * 3)
    anthropic_server.default = FakeReply("backup")
    first = gateway(primary, claude_at(anthropic_server), clock=clock, attempts=3, threshold=3)
    assert (await first.request(ASK)).message.text == "backup"
    breaker = breaker_for(primary.endpoint)
    assert breaker.state == "open"
    # Another gateway, another run: the open breaker skips the primary without a request.
    second = gateway(
        openai_at(openai_server), claude_at(anthropic_server), clock=clock, threshold=3
    )
    assert (await second.request(ASK)).message.text == "backup"
    assert len(openai_server.requests) == 3
    # After the reset timeout one probe goes out; its success closes the breaker.
    clock.advance(30)
    openai_server.script(FakeReply("primary is back"))
    assert (await second.request(ASK)).message.text == "primary is back"
    assert breaker.state == "closed"


async def test_a_failed_probe_opens_the_breaker_again(openai_server: FakeLLMServer) -> None:
    clock = ManualClock()
    model = openai_at(openai_server)
    chain = gateway(model, ScriptedModel(["fallback"] * 3), clock=clock, attempts=1, threshold=1)
    openai_server.script(Fault.http(500), Fault.http(500))
    await chain.request(ASK)
    clock.advance(30)
    await chain.request(ASK)  # the probe fails
    assert breaker_for(model.endpoint).state == "open"
    await chain.request(ASK)  # skipped: no third request
    assert len(openai_server.requests) == 2


async def test_a_slow_attempt_times_out_and_the_chain_moves_on(
    openai_server: FakeLLMServer, anthropic_server: FakeLLMServer
) -> None:
    openai_server.script(FakeReply("too late", delay=5.0))
    anthropic_server.script(FakeReply("in time"))
    chain = ModelGateway(
        [openai_at(openai_server), claude_at(anthropic_server)],
        retry=RetryPolicy(max_attempts=1, attempt_timeout=0.2),
        clock=ManualClock(),
    )
    assert (await chain.request(ASK)).message.text == "in time"


async def test_no_retry_is_made_that_would_pass_the_total_timeout(
    openai_server: FakeLLMServer,
) -> None:
    clock = ManualClock()
    openai_server.script(Fault.http(429, retry_after=20))
    sink = InMemoryTicketSink()
    chain = ModelGateway(
        [openai_at(openai_server)],
        retry=RetryPolicy(max_attempts=5, total_timeout=10, backoff=HALF),
        last_resort=LastResort(tickets=sink),
        clock=clock,
    )
    response = await chain.request(ASK)
    assert response.finish_reason == "unavailable"
    assert clock.sleeps == [] and len(openai_server.requests) == 1


async def test_every_tier_down_gives_the_canned_reply_and_a_ticket(
    openai_server: FakeLLMServer, anthropic_server: FakeLLMServer
) -> None:
    sink = InMemoryTicketSink()
    openai_server.script(*[Fault.http(503)] * 2)
    anthropic_server.script(*[Fault.http(529)] * 2)
    chain = gateway(
        openai_at(openai_server),
        claude_at(anthropic_server),
        clock=ManualClock(),
        attempts=2,
        sink=sink,
    )
    response = await chain.request(ASK)
    assert response.message.text == LastResort().reply
    assert (response.provider, response.finish_reason) == ("keel", "unavailable")
    [ticket] = sink.tickets
    assert ticket.kind == "model_unavailable"
    assert ticket.detail["tries"] == 4
    assert [e["kind"] for e in ticket.detail["errors"]] == ["overloaded"] * 4


async def test_structured_output_ends_with_model_unavailable_not_an_invented_output(
    openai_server: FakeLLMServer,
) -> None:
    sink = InMemoryTicketSink()
    openai_server.default = FakeReply()  # unused
    openai_server.script(Fault.reset())
    chain = gateway(openai_at(openai_server), clock=ManualClock(), attempts=1, sink=sink)
    request = ModelRequest(ASK.messages, output_schema=OutputSchema("Out", {"type": "object"}))
    with pytest.raises(ModelUnavailableError) as raised:
        await chain.request(request)
    assert raised.value.reply == LastResort().reply
    assert raised.value.ticket_id == sink.tickets[0].id


async def test_without_a_last_resort_the_last_error_is_raised(openai_server: FakeLLMServer) -> None:
    openai_server.script(Fault.http(500))
    chain = ModelGateway(
        [openai_at(openai_server)], retry=RetryPolicy(max_attempts=1), last_resort=None
    )
    with pytest.raises(ModelOverloadedError):
        await chain.request(ASK)


async def test_a_stream_falls_back_invisibly_before_its_first_token(
    openai_server: FakeLLMServer, anthropic_server: FakeLLMServer
) -> None:
    openai_server.script(Fault.http(503), Fault.cut_stream(FakeReply("lost"), after_chunks=1))
    anthropic_server.script(FakeReply("clean answer"))
    chain = gateway(
        openai_at(openai_server), claude_at(anthropic_server), clock=ManualClock(), attempts=2
    )
    events = [e async for e in chain.stream(ASK)]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "clean answer"
    final = events[-1]
    assert isinstance(final, ModelResponse) and final.provider == "anthropic"


async def test_a_stream_that_breaks_after_text_ends_with_an_error_and_no_second_answer(
    openai_server: FakeLLMServer, anthropic_server: FakeLLMServer
) -> None:
    openai_server.script(Fault.cut_stream(FakeReply("half an answer"), after_chunks=3))
    chain = gateway(openai_at(openai_server), claude_at(anthropic_server), clock=ManualClock())
    seen: list[str] = []
    with pytest.raises(Exception) as raised:
        async for event in chain.stream(ASK):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert "".join(seen) == "half an"
    assert getattr(raised.value, "retryable", False)
    assert anthropic_server.requests == []  # no fallback once text was shown
    assert len(openai_server.requests) == 1


async def test_a_streamed_last_tier_streams_the_apology(openai_server: FakeLLMServer) -> None:
    openai_server.script(Fault.http(500))
    chain = gateway(openai_at(openai_server), clock=ManualClock(), attempts=1)
    events = [e async for e in chain.stream(ASK)]
    assert [e.text for e in events if isinstance(e, TextDelta)] == [LastResort().reply]


def test_bad_configuration_fails_at_load_naming_the_field() -> None:
    with pytest.raises(ConfigurationError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError, match="attempt_timeout"):
        RetryPolicy(attempt_timeout=-1)
    with pytest.raises(ConfigurationError, match="failure_threshold"):
        BreakerPolicy(failure_threshold=0)
    with pytest.raises(ConfigurationError, match="needs a list of models"):
        ModelGateway("openai:gpt-4o")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown model provider 'nope'"):
        ModelGateway(["nope:x"])


async def test_a_half_open_probe_answered_with_a_request_error_closes_the_breaker(
    openai_server: FakeLLMServer,
) -> None:
    clock = ManualClock()
    model = openai_at(openai_server)
    chain = gateway(model, ScriptedModel(["fallback"] * 3), clock=clock, attempts=1, threshold=1)
    openai_server.script(Fault.http(500), Fault.http(400, message="bad request"))
    await chain.request(ASK)
    clock.advance(30)
    with pytest.raises(BadRequestError):
        await chain.request(ASK)  # the probe reached a live endpoint
    assert breaker_for(model.endpoint).state == "closed"


async def test_a_cancelled_probe_does_not_leave_the_breaker_stuck(
    openai_server: FakeLLMServer,
) -> None:
    import asyncio

    clock = ManualClock()
    model = openai_at(openai_server)
    chain = gateway(model, ScriptedModel(["fallback"] * 3), clock=clock, attempts=1, threshold=1)
    openai_server.script(Fault.http(500), FakeReply("slow", delay=2.0), FakeReply("back"))
    await chain.request(ASK)
    clock.advance(30)
    probe = asyncio.ensure_future(chain.request(ASK))
    await asyncio.sleep(0.2)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert (await chain.request(ASK)).message.text == "back"  # a new probe went out
