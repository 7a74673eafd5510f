"""What a command talks to: the app, the agent, its model, and the session it continues."""

from __future__ import annotations

import os
import shlex
import sys
import uuid
from dataclasses import dataclass, replace
from typing import Any

from rich.console import Console

from keel import Agent, App, KeelError, Message, Model, infer_model, load_app
from keel._cli.errors import USAGE_ERROR, CliError
from keel._cli.prepare import prepare_model
from keel.app import DEFAULT_APP

__all__ = [
    "Target",
    "load_app_from_cwd",
    "load_target",
    "model_label",
    "new_session_id",
    "ready_agent",
    "resolve_model",
    "session_history",
]


@dataclass(frozen=True, slots=True)
class Target:
    """The app and agent a command serves, with the options that named them."""

    app: App
    agent: Agent[Any]
    app_path: str | None = None
    agent_name: str | None = None

    def command(self, name: str, *args: str, with_agent: bool = True) -> str:
        """The `keel …` command line that reaches this same app (and agent)."""
        words = ["keel", name]
        if self.app_path:
            words += ["--app", self.app_path]
        if self.agent_name and with_agent:
            words += ["--agent", self.agent_name]
        return shlex.join([*words, *args])


def load_target(app_path: str | None, agent_name: str | None) -> Target:
    app = load_app_from_cwd(app_path)
    return Target(app, app.agent(agent_name), app_path, agent_name)


def load_app_from_cwd(app_path: str | None) -> App:
    """Load an app the way `python -m` would find it: from the current directory too."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # a console script's sys.path lacks it
    path = app_path or DEFAULT_APP
    try:
        return load_app(path)
    except KeelError:
        raise
    except Exception as exc:  # the app's own module raised while being imported
        module = path.partition(":")[0]
        raise CliError(
            f"importing {module!r} for app {path!r} failed: {type(exc).__name__}: {exc} "
            f"(see the traceback with: python -c 'import {module}')"
        ) from exc


def model_label(model: str | Model) -> str:
    return model if isinstance(model, str) else f"{model.provider}:{model.name}"


def resolve_model(agent: Agent[Any]) -> Model:
    try:
        return infer_model(agent.model)
    except ImportError as exc:
        if isinstance(exc, KeelError):  # MissingExtraError names the extra to install
            raise
        raise CliError(f"cannot load model {model_label(agent.model)!r}: {exc}") from exc


def ready_agent(agent: Agent[Any], model: Model, console: Console) -> Agent[Any]:
    """Prepare `model` with visible progress; the agent returned runs on that instance."""
    prepare_model(model, console)
    return agent if agent.model is model else replace(agent, model=model)


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


async def session_history(target: Target, session_id: str) -> list[Message]:
    """The stored conversation; a usage error naming `keel sessions` if it is unknown."""
    store = target.app.session_store
    if not await store.exists(session_id):
        raise CliError(
            f"no session {session_id!r} in {target.app.database_path}; "
            f"list the sessions with `{target.command('sessions', with_agent=False)}`",
            code=USAGE_ERROR,
        )
    return await store.load(session_id)
