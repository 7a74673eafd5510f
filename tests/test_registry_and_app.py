"""Model strings, provider registration, and loading apps by path."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest

from keel import Agent, App, AppLoadError, ConfigurationError, UnknownModelError, load_app
from keel.models import infer_model, known_providers, register_provider
from keel.testing import EchoModel, ScriptedModel
from keel.testing.models import echo_provider


@pytest.fixture(autouse=True)
def _providers_restored() -> Iterator[None]:
    """Providers registered here must not leak into later tests (`keel models` lists them)."""
    from keel.models import registry

    known_providers()  # entry points load once per process: keep what they registered
    saved = dict(registry._providers)  # pyright: ignore[reportPrivateUsage]
    yield
    registry._providers.clear()  # pyright: ignore[reportPrivateUsage]
    registry._providers.update(saved)  # pyright: ignore[reportPrivateUsage]


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


def test_a_model_string_resolves_to_one_object_per_process() -> None:
    default = infer_model("local:qwen2.5-coder-0.5b")
    assert infer_model("local:qwen2.5-coder-0.5b") is default  # its loaded server, once
    assert infer_model("test:a") is infer_model("test:a")
    assert infer_model("test:a") is not infer_model("test:b")
    assert infer_model("local:qwen2.5-0.5b") is not default  # another string (a synonym)


def test_registering_a_provider_again_drops_the_models_the_old_one_built() -> None:
    register_provider("twice", lambda name: EchoModel(model_name=name))
    first = infer_model("twice:x")
    register_provider("twice", lambda name: EchoModel(model_name=name))
    assert infer_model("twice:x") is not first


def test_the_test_provider_registers_through_the_entry_point_hook() -> None:
    (entry,) = [e for e in entry_points(group="keel.providers") if e.name == "test"]
    assert entry.load() is echo_provider


def test_resolving_a_model_does_not_import_the_test_doubles() -> None:
    code = (
        "import sys\n"
        "from keel.models import infer_model\n"
        "infer_model('local:qwen2.5-coder-0.5b')\n"
        "assert 'keel.testing' not in sys.modules, 'keel.testing was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


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
        ("keel.examples.starter:lookup_order", "found FunctionTool"),
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


def test_a_postgres_app_keeps_its_sqlite_stores_under_keel_home() -> None:
    """The stores with no PostgreSQL backend yet must not land in a file named like the
    URL in the working directory (they once did, and were committed by accident)."""
    url = "postgresql://postgres@127.0.0.1:5432/db?options=-csearch_path%3Ds_1"
    app = App(agents=[Agent(name="a", model="test")], database=url)
    other = App(agents=[Agent(name="a", model="test")], database=url + "2")
    from keel.settings import data_dir

    assert app.database_path.parent == data_dir()
    assert "postgresql" not in str(app.database_path)
    assert app.database_path != other.database_path
    assert App(agents=[Agent(name="a", model="test")]).database_path == data_dir() / "keel.db"
