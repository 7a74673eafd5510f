"""Building an `ActiveRun`: for a new run from its input, for a resumed one from its state.

Both paths resolve what is live (model, tools, middleware) the same way; only where the
state comes from differs. The model object comes from the process-wide cache, so every
run of an agent shares one client, one loaded local model, one breaker.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from keel._run.active import ActiveRun
from keel._run.builtin import ApprovalGate
from keel._run.checkpoint import Checkpointer
from keel._run.output import OutputSpec
from keel.agent import Agent, check_unique_names
from keel.context import RunContext
from keel.exceptions import ConfigurationError, SessionNotFoundError
from keel.memory.session import SessionStore, check_session_id
from keel.messages import Message
from keel.middleware import Middleware
from keel.models.base import ToolDefinition
from keel.models.registry import infer_model
from keel.principal import Principal
from keel.runs.state import RunState
from keel.tools.base import Tool

if TYPE_CHECKING:
    from keel.run import Runner

__all__ = [
    "activate",
    "input_messages",
    "load_history",
    "middleware_chain",
    "new_run_id",
    "new_state",
    "output_spec",
    "resolve_tools",
]


def new_run_id() -> str:
    return os.urandom(16).hex()  # as unique as uuid4().hex, at a fifth of the cost


def new_state(
    agent: Agent[Any],
    *,
    run_id: str | None,
    session_id: str | None,
    principal: Principal,
    parent_run_id: str | None,
) -> RunState:
    if run_id is not None:
        check_session_id(run_id)  # the same rule: printable, bounded, storable
    if session_id is not None:
        check_session_id(session_id)
    return RunState(
        run_id=run_id or new_run_id(),
        agent_name=agent.name,
        session_id=session_id,
        principal=principal,
        parent_run_id=parent_run_id,
    )


async def activate(
    agent: Agent[Any],
    state: RunState,
    history: list[Message],
    *,
    middleware: Sequence[Middleware],
    checkpoints: Checkpointer,
    deps: Any,
    runner: Runner | None = None,
) -> ActiveRun:
    ctx = RunContext(
        run_id=state.run_id,
        agent_name=agent.name,
        session_id=state.session_id,
        deps=deps,
        step=state.step,
        usage=state.usage,  # the same objects: the context and the state never disagree
        principal=state.principal,
        parent_run_id=state.parent_run_id,
        metadata=state.metadata,
        runner=runner,
    )
    tools, definitions = await _resolve_tools(agent, ctx)
    return ActiveRun(
        agent=agent,
        model=infer_model(agent.model),
        context=ctx,
        state=state,
        output_spec=output_spec(agent.output_type),
        history=history,
        tools=tools,
        tool_definitions=definitions,
        checkpoints=checkpoints,
        middleware=_middleware(agent, middleware, tools),
    )


def _middleware(
    agent: Agent[Any], outer: Sequence[Middleware], tools: dict[str, Tool]
) -> list[Middleware]:
    chain: list[Middleware] = [*outer, *agent.middleware]
    if tracing_configured() and not any(getattr(m, "is_tracing", False) for m in chain):
        chain.insert(0, default_tracing())  # outermost: its spans cover every other layer
    if any(t.annotations.requires_approval for t in tools.values()):
        chain.append(ApprovalGate())  # innermost: others may deny before a person is asked
    return chain


async def _resolve_tools(
    agent: Agent[Any], ctx: RunContext
) -> tuple[dict[str, Tool], Sequence[ToolDefinition]]:
    if not agent.toolsets:
        return agent.tool_map, agent.tool_definitions
    tools = list(agent.tool_map.values())
    for toolset in agent.toolsets:
        tools.extend(await toolset.list_tools(ctx))
    check_unique_names(agent.name, tools)
    return {t.name: t for t in tools}, tuple(t.definition for t in tools)


async def load_history(
    store: SessionStore | None, state: RunState, *, limit: int | None = None
) -> list[Message]:
    if state.session_id is None:
        return []
    if store is None:
        raise ConfigurationError(
            "session_id was given but this Runner has no session store; "
            "create it with Runner(session_store=SQLiteSessionStore(path))"
        )
    try:
        history = await store.load(state.session_id, tenant_id=state.principal.tenant_id)
    except SessionNotFoundError:
        return []  # a new conversation starts with its first run
    return history if limit is None else history[:limit]


def tracing_configured() -> bool:
    """Whether an OpenTelemetry SDK is installed; checked per run (~0.3 µs), so one
    configured after the first run is still seen. Without one, spans would be no-ops
    costing a quarter of the loop's overhead."""
    trace = _otel_trace()
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


@cache
def _otel_trace() -> Any:
    from opentelemetry import trace  # on first run, not at `import keel`

    return trace


@cache
def default_tracing() -> Middleware:
    from keel.observability.tracing import Tracing

    return Tracing()


_OUTPUT_SPECS: dict[Any, OutputSpec[Any]] = {}


def output_spec(output_type: type[Any]) -> OutputSpec[Any]:
    # Building a TypeAdapter costs ~100 µs; agents reuse a handful of output types.
    try:
        spec = _OUTPUT_SPECS.get(output_type)
    except TypeError:  # an unhashable type expression: build it every time
        return OutputSpec[Any].for_type(output_type)
    if spec is None:
        spec = _OUTPUT_SPECS[output_type] = OutputSpec[Any].for_type(output_type)
    return spec


middleware_chain = _middleware
"""The chain a run of `agent` uses (a handoff rebuilds it for the new agent)."""
resolve_tools = _resolve_tools

RunInput = str | Message | Sequence[Message]


def input_messages(input: RunInput) -> list[Message]:
    if isinstance(input, str):
        if not input.strip():
            raise ValueError("input is empty: give the agent something to answer")
        return [Message.user(input)]
    if isinstance(input, Message):
        return [input]
    items: list[object] = list(input) if isinstance(input, Sequence) else []  # pyright: ignore[reportUnnecessaryIsInstance]
    if items and all(isinstance(m, Message) for m in items):
        return cast("list[Message]", items)
    raise TypeError(
        "input must be a non-empty str, a Message, or a non-empty sequence of Messages; "
        f"got {type(input).__name__}"
    )
