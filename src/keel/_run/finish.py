"""Driving a begun run to its end, telling the hooks, and settling what is stored.

Completed: the run is marked completed with its output, then its turn is appended to the
session (idempotently, keyed by run id). Suspended or needing attention: the run store
already holds it; the result carries the pending actions. Failed: the run is marked
failed; the session is not touched.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing, suppress
from typing import Any

from pydantic_core import to_jsonable_python

from keel._run.loop import run_loop
from keel._run.prepare import save_turn
from keel._run.starts import Begun
from keel.events import RunEvent, RunFailed, RunFinished, RunHook, RunSuspended
from keel.exceptions import RunBlocked
from keel.memory.session import SessionStore
from keel.messages import Message
from keel.result import ResultStatus, RunResult
from keel.runs.state import RunState

__all__ = ["Settler", "result_of"]


def result_of(state: RunState, output: Any, history: Sequence[Message]) -> RunResult[Any]:
    """The result of a run in `state`; `output` is the live (typed) output when there is one."""
    status = state.status
    waiting: ResultStatus = status if status in ("suspended", "needs_attention") else "completed"
    return RunResult(
        output=state.output if output is None else output,
        run_id=state.run_id,
        agent_name=state.agent_name,
        session_id=state.session_id,
        new_messages=tuple(state.new_messages),
        history=tuple(history),
        usage=state.usage,
        steps=state.step,
        status=waiting,
        pending=tuple(state.undecided),
    )


class Settler:
    def __init__(
        self, begun: Begun, session_store: SessionStore | None, hooks: Sequence[RunHook]
    ) -> None:
        self._begun = begun
        self._run = begun.run
        self._session_store = session_store
        # Middleware that also implement `on_event` observe the run too (tracing does).
        watching = [m for m in begun.run.middleware if isinstance(m, RunHook)]
        self._hooks = (*watching, *hooks, *begun.run.agent.hooks)

    async def drive(self, streaming: bool) -> AsyncGenerator[RunEvent]:
        ctx = self._run.context
        finished = False
        try:
            yield await self._tell(self._begun.opening)
            async with aclosing(self._events(streaming)) as events:
                async for event in events:
                    yield await self._tell(event)
            result = await self._settle()
            if result.status != "completed":
                yield await self._tell(RunSuspended(ctx, result.pending, result.status))
            finished = True
            yield await self._tell(RunFinished(ctx, result))
        except BaseException as error:
            if not finished:
                await self._fail(error)
                await _tell_failure(self._hooks, RunFailed(ctx, error))
            raise

    def _events(self, streaming: bool) -> AsyncGenerator[RunEvent]:
        reply = self._begun.respond
        if reply is None:
            return run_loop(self._run, streaming=streaming)
        return self._answer_for_model(reply)

    async def _answer_for_model(self, reply: str) -> AsyncGenerator[RunEvent]:
        run = self._run
        if run.output_spec.schema is not None:
            raise RunBlocked(f"middleware answered agent {run.agent.name!r}'s input", reply=reply)
        run.state.new_messages.append(Message.assistant(reply))
        run.output, run.answered = reply, True
        return
        yield  # an async generator that yields nothing

    async def _settle(self) -> RunResult[Any]:
        run, state = self._run, self._run.state
        if state.status == "running":
            state.status = "completed"
            state.output = to_jsonable_python(run.output, fallback=str)
            await run.checkpoints.step(state)
            await save_turn(self._session_store, state)
        return result_of(state, run.output, run.history)

    async def _fail(self, error: BaseException) -> None:
        state = self._run.state
        state.status = "failed"
        state.error = f"{type(error).__name__}: {error}"
        with suppress(Exception):  # the original error matters more than a bookkeeping write
            await self._run.checkpoints.step(state)

    async def _tell(self, event: RunEvent) -> RunEvent:
        for hook in self._hooks:
            await hook.on_event(event)
        return event


async def _tell_failure(hooks: Sequence[RunHook], event: RunFailed) -> None:
    # Every hook hears of the failure even if one of them raises: the original error wins.
    for hook in hooks:
        try:
            await hook.on_event(event)
        except Exception:
            continue
