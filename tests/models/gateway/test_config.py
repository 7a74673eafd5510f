"""A gateway from configuration: built as configured, or refused at load naming the field."""

from __future__ import annotations

import tomllib

import pytest

from keel.exceptions import ConfigurationError
from keel.messages import Message
from keel.models.base import ModelRequest
from keel.models.config import gateway_from_config
from keel.models.openai import OpenAIModel
from keel.models.profiles import PROFILES
from keel.testing.fake_llm import FakeLLMServer, FakeReply, Fault


async def test_a_toml_chain_is_built_and_falls_back_as_configured(
    openai_server: FakeLLMServer, anthropic_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_KEY", "from-env")
    text = f"""
    [[models]]
    model = "openai:cfg-test-model"
    base_url = "{openai_server.base_url}"
    api_key_env = "NO_SUCH_VARIABLE"
    headers = {{ x-team = "support" }}
    [[models]]
    model = "anthropic:claude-sonnet-4"
    base_url = "{anthropic_server.base_url}"
    api_key_env = "CLAUDE_KEY"
    [retry]
    max_attempts = 1
    [profiles."openai:cfg-test-model"]
    context_window = 32000
    input_price = 1.0
    """
    gateway = gateway_from_config(tomllib.loads(text))
    first = gateway.models[0]
    assert isinstance(first, OpenAIModel) and first.profile.context_window == 32_000
    assert PROFILES.get("openai", "cfg-test-model").input_price == 1.0
    openai_server.script(Fault.http(503))
    anthropic_server.script(FakeReply("from claude"))
    response = await gateway.request(ModelRequest([Message.user("hi")]))
    assert response.provider == "anthropic"
    assert openai_server.requests[0].headers["x-team"] == "support"
    assert anthropic_server.requests[0].headers["authorization"] == "Bearer from-env"


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"models": []}, "models: List should have at least 1 item"),
        ({"models": ["gpt-4o"]}, "models.0: model string 'gpt-4o' must look like"),
        ({"models": ["test:a"], "retry": {"max_attempts": 0}}, "retry.max_attempts"),
        ({"models": ["test:a"], "breaker": {"reset_timeout": -1}}, "breaker.reset_timeout"),
        ({"models": ["test:a"], "retyr": {}}, "retyr: Extra inputs are not permitted"),
        ({"models": [{"model": "openai:x", "timeout": 0}]}, "models.0.ModelConfig.timeout"),
        ({"models": ["test:a"], "profiles": {"test:a": {"input_price": -2}}}, "input_price"),
        ({"models": [{"model": "test:a", "timeout": 5}]}, "provider 'test' takes no options"),
        ({"models": ["nope:a"]}, "models.0: unknown model provider 'nope'"),
    ],
)
def test_bad_configuration_fails_at_load_naming_the_field(
    config: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        gateway_from_config(config)
    assert named in str(raised.value)
