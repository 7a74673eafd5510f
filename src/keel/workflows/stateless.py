"""Stateless mode: the caller supplies the whole conversation; nothing is stored.

The stateful mode keeps sessions and durable runs in the app's database. Here a fresh
`Runner` with no stores runs the conversation the caller sent (all of it passes the
input middleware) and returns the messages to append on the caller's side; no session,
run or checkpoint is written anywhere. A run
that would wait for a person cannot (there is nowhere to wait): it is refused with a
clear error instead of leaving an approval nobody can give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from keel.agent import Agent
from keel.exceptions import RunError
from keel.messages import Message
from keel.middleware import Middleware
from keel.principal import Principal
from keel.result import RunResult
from keel.run import Runner

__all__ = ["run_stateless"]

OutputT = TypeVar("OutputT")


async def run_stateless(
    agent: Agent[OutputT],
    conversation: Sequence[Message],
    *,
    deps: Any = None,
    principal: Principal | None = None,
    middleware: Sequence[Middleware] = (),
) -> RunResult[OutputT]:
    """Run on `conversation` (its last message is the new input). The run's messages
    start with the conversation; the caller appends `result.new_messages[len(conversation):]`
    to its copy."""
    if not conversation or conversation[-1].role != "user":
        raise ValueError("a stateless run needs a conversation that ends with a user message")
    runner = Runner(middleware=middleware)
    result = await runner.run(agent, list(conversation), deps=deps, principal=principal)
    if result.status != "completed":
        raise RunError(
            f"agent {agent.name!r} stopped to wait for a person ({result.pending[0].reason}); "
            "a stateless run cannot wait — run it with a session and a run store instead"
        )
    return result
