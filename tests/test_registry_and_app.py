"""Model strings, provider registration, and loading apps by path."""

from __future__ import annotations

import pytest

from keel import Agent, App, AppLoadError, ConfigurationError, UnknownModelError, load_app
from keel.models import infer_model, known_providers, register_provider
from keel.testing import EchoModel, ScriptedModel


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="unknown model provider 'gpt'") as info:
        infer_model("gpt:4")
    assert "local" in str(info.value) and "test" in str(info.value)


@pytest.mark.parametrize("bad", ["qwen", "local:", ":x"])
def test_malformed_model_strings_show_the_expected_shape(bad: str) -> None:
    with pytest.raises(UnknownModelError, match=r"provider:model|unknown model provider"):
        infer_model(bad)


def test_register_provider_makes_a_new_prefix_resolve() -> None:
    register_provider("scripted", lambda name: ScriptedModel([name]))
    assert "scripted" in known_providers()
    assert infer_model("scripted:hi").name == "scripted"


def test_test_provider_builds_an_echo_model() -> None:
    model = infer_model("test:parrot")
    assert isinstance(model, EchoModel) and model.name == "parrot"


def test_model_objects_pass_through() -> None:
    model = EchoModel()
    assert infer_model(model) is model


async def test_unknown_model_string_fails_the_run_before_anything_runs() -> None:
    from keel import Runner

    with pytest.raises(UnknownModelError):
        await Runner().run(Agent(name="a", model="nope:x"), "hi")


def test_default_app_is_the_starter() -> None:
    app = load_app()
    assert app.agent().name == "shop-assistant"
    assert {t.name for t in app.agent().tools} == {"lookup_order", "store_hours"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_colon", "must look like"),
        ("keel.nowhere:app", "cannot import"),
        ("keel.examples.starter:missing", "found nothing"),
        ("keel.examples.starter:lookup_order", "found Tool"),
    ],
)
def test_bad_app_paths_say_what_is_wrong(path: str, message: str) -> None:
    with pytest.raises(AppLoadError, match=message):
        load_app(path)


def test_a_bare_agent_is_served_as_an_app() -> None:
    app = load_app("keel.examples.starter:assistant")
    assert isinstance(app, App) and app.agent().name == "shop-assistant"


def test_app_agent_lookup_errors_name_the_choices() -> None:
    app = App(agents=[Agent(name="one", model="test:x")])
    with pytest.raises(ConfigurationError, match=r"\['one'\]"):
        app.agent("two")
    with pytest.raises(ConfigurationError, match="at least one agent"):
        App(agents=[])
