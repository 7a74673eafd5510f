"""Acting on a handoff: the loop's side of `keel.handoffs.handoff`.

A handoff tool only records its request in the run's metadata (`HANDOFF_KEY`); once the
tool step closes, the loop switches the live run to the target agent — its instructions,
model, tools, middleware and output type — before the step's checkpoint, so a resumed
run continues with the agent that holds the conversation. The messages stay: the
conversation travels with the run. `HANDOFF_CHAIN` keeps who handed to whom, so a
specialist can hand back.
"""

from __future__ import annotations

from typing import Any

from keel._run.active import ActiveRun
from keel._run.prepare import middleware_chain, output_spec, resolve_tools
from keel.events import Handoff
from keel.exceptions import ConfigurationError
from keel.messages import Message
from keel.models.registry import infer_model

__all__ = ["HANDOFF_CHAIN", "HANDOFF_KEY", "switch_agent", "take_handoff"]

HANDOFF_KEY = "keel.handoff"
"""Metadata key a handoff tool writes: {"to": agent name, "reason": str, "back": bool}."""
HANDOFF_CHAIN = "keel.handoff_chain"
"""Metadata key: the agents that handed off, oldest first (a hand-back pops one)."""


async def take_handoff(run: ActiveRun) -> Handoff | None:
    """Switch the run to the agent a handoff tool asked for, if one did this step."""
    request: dict[str, Any] | None = run.state.metadata.pop(HANDOFF_KEY, None)
    if request is None:
        return None
    target_name = str(request["to"])
    runner = run.context.runner
    target = None if runner is None else runner.agent_named(target_name)
    if target is None:
        raise ConfigurationError(
            f"agent {run.agent.name!r} handed off to {target_name!r}, an agent this runner "
            "does not know; list it in the App's agents"
        )
    chain: list[str] = run.state.metadata.setdefault(HANDOFF_CHAIN, [])
    back = bool(request.get("back"))
    if back:
        chain.pop()
    else:
        chain.append(run.agent.name)
    source = run.agent.name
    await switch_agent(run, target)
    return Handoff(run.context, source, target.name, str(request.get("reason", "")), back)


async def switch_agent(run: ActiveRun, agent: Any) -> None:
    """Make `agent` the one the rest of the run talks to."""
    tools, definitions = await resolve_tools(agent, run.context)
    runner = run.context.runner
    outer = runner.middleware if runner is not None else ()
    run.agent = agent
    run.model = infer_model(agent.model)
    run.output_spec = output_spec(agent.output_type)
    run.tools, run.tool_definitions = tools, definitions
    run.middleware = middleware_chain(agent, outer, tools)
    run.rebuild_pipeline()
    run.prefix = [Message.system(agent.instructions)] if agent.instructions else []
    run.context.agent_name = run.state.agent_name = agent.name
