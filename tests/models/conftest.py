"""Fake OpenAI and Anthropic servers (real HTTP on 127.0.0.1) and fresh breakers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keel.resilience import reset_breakers
from keel.testing.fake_llm import FakeLLMServer


@pytest.fixture
def openai_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer("openai") as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer("anthropic") as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    reset_breakers()  # breakers are process-wide: each test starts from closed ones
    yield
    reset_breakers()
