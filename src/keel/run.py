"""`Runner`: runs an agent — `run`, `run_sync` and `stream` — and nothing more.

It resolves the model, loads the session, drives the loop in `keel._run`, hands every
event to the hooks (usage accounting and tracing first, then the runner's and the
agent's own), and saves the turn only when the run succeeds: a failed run writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from functools import cache
from typing import Any, TypeVar, cast

from keel._run.accounting import UsageAccountant
from keel._run.loop import LoopState, run_loop
from keel._run.output import OutputSpec
from keel.agent import Agent
from keel.context import RunContext
from keel.events import RunEvent, RunFailed, RunFinished, RunHook, RunStarted
from keel.exceptions import ConfigurationError, RunError, SessionNotFoundError
from keel.limits import RunLimits
from keel.memory.session import SessionStore
from keel.messages import Message
from keel.models.registry import infer_model
from keel.result import RunResult

__all__ = ["Runner"]

OutputT = TypeVar("OutputT")
RunInput = str | Message | Sequence[Message]


def _new_run_id() -> str:
    return os.urandom(16).hex()  # as unique as uuid4().hex, at a fifth of the cost


def _builtin_hooks(limits: RunLimits) -> tuple[RunHook, ...]:
    """Usage accounting always; spans only once an OpenTelemetry SDK is installed.

    Checked per run (~0.3 µs), so an SDK configured after the first run is still seen;
    without one, span calls would be no-ops costing a quarter of the loop's overhead.
    """
    accountant = UsageAccountant(limits)
    if not _tracing_configured():
        return (accountant,)
    return (accountant, _default_tracing())


def _tracing_configured() -> bool:
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


@cache
def _default_tracing() -> RunHook:
    from keel.observability.tracing import TracingHook

    return TracingHook()


class Runner:
    """Runs agents. Share one runner per process; it holds no per-run state.

    `session_store` is where `session_id` conversations live; `hooks` see every run.
    """

    def __init__(
        self, *, session_store: SessionStore | None = None, hooks: Sequence[RunHook] = ()
    ) -> None:
        self.session_store = session_store
        self.hooks = tuple(hooks)

    async def run(
        self,
        agent: Agent[OutputT],
        input: RunInput,
        *,
        session_id: str | None = None,
        deps: Any = None,
    ) -> RunResult[OutputT]:
        """Run to a final answer and return it with usage and the new messages."""
        async with aclosing(self._drive(agent, input, session_id, deps, streaming=False)) as events:
            async for event in events:
                if isinstance(event, RunFinished):
                    return event.result
        raise RunError("the run ended without a result")  # unreachable by construction

    def run_sync(
        self,
        agent: Agent[OutputT],
        input: RunInput,
        *,
        session_id: str | None = None,
        deps: Any = None,
    ) -> RunResult[OutputT]:
        """`run` for code without an event loop; not callable from inside one."""
        import asyncio  # not at module level: it is ~20 ms of `import keel`

        return asyncio.run(self.run(agent, input, session_id=session_id, deps=deps))

    def stream(
        self,
        agent: Agent[OutputT],
        input: RunInput,
        *,
        session_id: str | None = None,
        deps: Any = None,
    ) -> AsyncGenerator[RunEvent]:
        """Yield every event as it happens; the last one is `RunFinished` with the result.

        Text arrives as `TextDelta` events; tool calls as `ToolCallStarted/Finished`.
        """
        return self._drive(agent, input, session_id, deps, streaming=True)

    async def _drive(
        self,
        agent: Agent[Any],
        input: RunInput,
        session_id: str | None,
        deps: Any,
        *,
        streaming: bool,
    ) -> AsyncGenerator[RunEvent]:
        state = await self._prepare(agent, input, session_id, deps)
        ctx = state.context
        hooks = (*_builtin_hooks(agent.limits), *self.hooks, *agent.hooks)
        finished = False
        try:
            started = RunStarted(
                ctx, tuple(state.new_messages), state.model.name, state.model.provider
            )
            yield await _notify(hooks, started)
            async for event in run_loop(state, streaming=streaming):
                yield await _notify(hooks, event)
            result = await self._finish(state)
            finished = True
            yield await _notify(hooks, RunFinished(ctx, result))
        except BaseException as error:
            if not finished:
                await _notify_failure(hooks, RunFailed(ctx, error))
            raise

    async def _prepare(
        self, agent: Agent[Any], input: RunInput, session_id: str | None, deps: Any
    ) -> LoopState:
        new_messages = _input_messages(input)
        history = await self._load_history(session_id)
        ctx = RunContext(_new_run_id(), agent.name, session_id, deps)
        return LoopState(
            agent=agent,
            model=infer_model(agent.model),
            context=ctx,
            output_spec=_output_spec(agent.output_type),
            history=history,
            new_messages=new_messages,
        )

    async def _load_history(self, session_id: str | None) -> list[Message]:
        if session_id is None:
            return []
        if self.session_store is None:
            raise ConfigurationError(
                "session_id was given but this Runner has no session store; "
                "create it with Runner(session_store=SQLiteSessionStore(path))"
            )
        try:
            return await self.session_store.load(session_id)
        except SessionNotFoundError:
            return []  # a new conversation starts with its first run

    async def _finish(self, state: LoopState) -> RunResult[Any]:
        ctx = state.context
        if ctx.session_id is not None and self.session_store is not None:
            await self.session_store.append(ctx.session_id, state.new_messages)
        return RunResult(
            output=state.output,
            run_id=ctx.run_id,
            agent_name=ctx.agent_name,
            session_id=ctx.session_id,
            new_messages=tuple(state.new_messages),
            history=tuple(state.history),
            usage=ctx.usage,
            steps=ctx.step,
        )


async def _notify(hooks: Sequence[RunHook], event: RunEvent) -> RunEvent:
    for hook in hooks:
        await hook.on_event(event)
    return event


async def _notify_failure(hooks: Sequence[RunHook], event: RunFailed) -> None:
    # Every hook hears of the failure even if one of them raises: the original error wins.
    for hook in hooks:
        try:
            await hook.on_event(event)
        except Exception:
            continue


_OUTPUT_SPECS: dict[Any, OutputSpec[Any]] = {}


def _output_spec(output_type: type[Any]) -> OutputSpec[Any]:
    # Building a TypeAdapter costs ~100 µs; agents reuse a handful of output types.
    try:
        spec = _OUTPUT_SPECS.get(output_type)
    except TypeError:  # an unhashable type expression: build it every time
        return OutputSpec[Any].for_type(output_type)
    if spec is None:
        spec = _OUTPUT_SPECS[output_type] = OutputSpec[Any].for_type(output_type)
    return spec


def _input_messages(input: RunInput) -> list[Message]:
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
