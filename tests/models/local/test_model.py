"""The real local model (Qwen2.5-Coder-0.5B through llama.cpp), loaded once for the module.

Sampling is pinned (temperature 0, a seed) so each test sees one deterministic answer;
the assertions are about what Keel guarantees — the shape, validity and accounting of the
answer — not about the model's wording, and never about how long anything took: a busy
machine is slow, not wrong.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from typing import Any, Literal, cast

import pytest
from pydantic import BaseModel

from keel import Agent, Runner
from keel.events import RunEvent, RunFinished, TextDelta, ToolCallFinished
from keel.exceptions import ModelError
from keel.messages import Message
from keel.models.base import ModelRequest, ModelSettings, ModelStreamEvent
from keel.models.base import TextDelta as ModelTextDelta
from keel.models.local import LocalModel
from keel.models.local import _server as server

pytestmark = pytest.mark.local_model
pytest.importorskip("xllamacpp", reason="the local model needs the 'local' extra")

PINNED = ModelSettings(temperature=0.0, seed=42)


@pytest.fixture(scope="module")
def model() -> Iterator[LocalModel]:
    """The default model, assembled (first time only) and loaded once for these tests."""
    local = LocalModel.from_name("qwen2.5-coder-0.5b")
    local.prepare()
    yield local


async def test_a_chat_reply_through_the_runner_counts_usage(model: LocalModel) -> None:
    agent = Agent(
        name="greeter",
        model="local:qwen2.5-coder-0.5b",  # resolves to the server the fixture loaded
        model_settings=ModelSettings(temperature=0.0, seed=42, max_tokens=32),
    )
    result = await Runner().run(agent, "Say hello in one short sentence.")
    assert result.output.strip()
    assert result.usage.requests == 1
    assert result.usage.input_tokens > 5
    assert 0 < result.usage.output_tokens <= 32


def test_models_with_the_same_file_and_options_share_one_loaded_server(
    model: LocalModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def second_load(key: server.ServerKey, verbose: bool) -> Any:
        raise AssertionError(f"{key.path} was loaded a second time")

    monkeypatch.setattr(server, "_start_server", second_load)
    again = LocalModel.from_name("qwen2.5-0.5b")  # the former alias: the same file
    again.prepare()
    assert again._loaded is model._loaded  # pyright: ignore[reportPrivateUsage]


async def test_a_typed_tool_is_called_with_arguments_that_validate(model: LocalModel) -> None:
    calls: list[tuple[str, str]] = []

    def get_weather(city: str, unit: Literal["c", "f"]) -> str:
        """Get the current weather for a city."""
        calls.append((city, unit))
        return f"18 degrees {unit.upper()}, sunny"

    agent = Agent(name="weather", model=model, tools=[get_weather], model_settings=PINNED)
    finished: list[ToolCallFinished] = []
    prompt = "Use get_weather to get the weather in Paris in celsius."
    async with aclosing(cast("AsyncGenerator[RunEvent]", Runner().stream(agent, prompt))) as run:
        async for event in run:
            if isinstance(event, ToolCallFinished):
                finished.append(event)
                break  # the call is what is tested; the answer after it is the model's business
    assert calls and calls[0][0].lower() == "paris" and calls[0][1] == "c"
    assert not finished[0].result.is_error


async def test_streaming_yields_text_deltas_that_add_up_to_the_answer(
    model: LocalModel,
) -> None:
    agent = Agent(
        name="counter",
        model=model,
        model_settings=ModelSettings(temperature=0.0, seed=42, max_tokens=40),
    )
    deltas: list[str] = []
    output = None
    async for event in Runner().stream(agent, "Count from one to ten in words."):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        elif isinstance(event, RunFinished):
            output = event.result.output
    assert len(deltas) >= 5
    assert "".join(deltas) == output


class City(BaseModel):
    name: str
    country: str


async def test_structured_output_validates_against_the_output_type(model: LocalModel) -> None:
    agent = Agent(name="geo", model=model, output_type=City, model_settings=PINNED)
    result = await Runner().run(agent, "Give the name and country of the city Tokyo.")
    assert isinstance(result.output, City)
    assert "tokyo" in result.output.name.lower()
    assert result.usage.requests == 1


async def test_structured_output_with_tools_comes_from_the_final_envelope(
    model: LocalModel,
) -> None:
    def lookup_city(name: str) -> str:
        """Look up facts about a city."""
        return f"{name} is the capital of Germany."

    agent = Agent(
        name="geo", model=model, tools=[lookup_city], output_type=City, model_settings=PINNED
    )
    result = await Runner().run(agent, "Give the name and country of the city Berlin.")
    assert isinstance(result.output, City)
    assert "berlin" in result.output.name.lower()
    # With tools and an output type there is no "reply" branch: every step is one request.
    assert result.usage.requests == result.steps


class GenerationSpy:
    """Counts the chunks llama.cpp produces in each generation, and holds the generation
    at chunk `hold_at` until `release` is set, so a test can cancel it at a known point."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, hold_at: int) -> None:
        self.chunks: list[int] = []  # one count per finished generation, in order
        self.held = asyncio.Event()
        self.release = threading.Event()
        self._hold_at = hold_at
        self._loop = asyncio.get_running_loop()
        spied = server.LoadedServer._call  # pyright: ignore[reportPrivateUsage]

        def call(loaded: server.LoadedServer, payload: Any, on_chunk: OnChunk) -> None:
            count = 0

            def counting(chunk: Any) -> bool:  # runs in the server's thread
                nonlocal count
                count += 1
                if count == self._hold_at:
                    self._loop.call_soon_threadsafe(self.held.set)
                    self.release.wait(timeout=300)
                return on_chunk(chunk)

            try:
                spied(loaded, payload, counting)
            finally:
                self.chunks.append(count)

        monkeypatch.setattr(server.LoadedServer, "_call", call)


OnChunk = Callable[[Any], bool]
ENDLESS = ModelSettings(temperature=0.0, seed=42, max_tokens=2000)  # minutes of tokens
SHORT = ModelRequest([Message.user("Hi")], settings=ModelSettings(max_tokens=3))


async def test_a_cancelled_request_stops_generating_and_frees_the_model(
    model: LocalModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = GenerationSpy(monkeypatch, hold_at=8)
    essay = [Message.user("Write a very long essay about the history of the ocean.")]
    request = asyncio.create_task(model.request(ModelRequest(essay, settings=ENDLESS)))
    await asyncio.wait_for(spy.held.wait(), timeout=300)  # a guard against hanging only
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    spy.release.set()
    assert (await model.request(SHORT)).message.text  # the model is free again
    assert spy.chunks[0] == 8  # it stopped at the held chunk, the first to see the cancel


async def test_an_abandoned_stream_stops_generating_and_frees_the_model(
    model: LocalModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = GenerationSpy(monkeypatch, hold_at=12)
    essay = [Message.user("Write a very long essay about the history of mountains.")]
    events = model.stream(ModelRequest(essay, settings=ENDLESS))
    pieces: list[str] = []
    async with aclosing(cast("AsyncGenerator[ModelStreamEvent]", events)) as stream:
        async for event in stream:
            if isinstance(event, ModelTextDelta):
                pieces.append(event.text)
            if len(pieces) == 3:
                break
    spy.release.set()
    assert (await model.request(SHORT)).message.text  # the model is free again
    assert len(pieces) == 3 and spy.chunks[0] <= 12  # stopped before the held chunk passed


async def test_concurrent_requests_share_the_model_one_at_a_time(model: LocalModel) -> None:
    def ask(question: str) -> ModelRequest:
        return ModelRequest([Message.user(question)], settings=ModelSettings(max_tokens=8))

    first, second = await asyncio.gather(
        model.request(ask("Name a colour.")), model.request(ask("Name a fruit."))
    )
    assert first.message.text and second.message.text
    assert first.usage.requests == second.usage.requests == 1


def test_run_sync_uses_the_loaded_model_from_a_fresh_event_loop_each_time(
    model: LocalModel,
) -> None:
    agent = Agent(name="sync", model=model, model_settings=ModelSettings(max_tokens=4))
    runner = Runner()
    assert runner.run_sync(agent, "Say yes.").output
    assert runner.run_sync(agent, "Say no.").output


async def test_a_prompt_longer_than_the_context_is_a_model_error(model: LocalModel) -> None:
    too_long = ModelRequest([Message.user("word " * 6000)])  # n_ctx is 4096 tokens
    with pytest.raises(ModelError, match="context"):
        await model.request(too_long)
