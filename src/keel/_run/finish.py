"""Driving a begun run to its end, telling the hooks, and settling what is stored.

Completed: the run is marked completed with its output, then its turn is appended to the
session (idempotently, keyed by run id). Suspended or needing attention: the run store
already holds it; the result carries the pending actions. Failed: the run is marked
failed; the session is not touched.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing, suppress
from functools import cache
from typing import Any, cast

from pydantic_core import to_jsonable_python

from keel._run.loop import run_loop
from keel._run.starts import Begun, Start
from keel.context import RunContext
from keel.events import RunEvent, RunFailed, RunFinished, RunHook, RunSuspended
from keel.exceptions import RunBlocked
from keel.memory.session import SessionStore
from keel.messages import Message
from keel.result import ResultStatus, RunResult
from keel.runs.state import RunState

__all__ = ["drive", "result_of"]


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


async def drive(  # noqa: C901, PLR0912  (one generator, for the reason `run_loop` gives)
    start: Start, session_store: SessionStore | None, hooks: Sequence[RunHook], *, streaming: bool
) -> AsyncGenerator[RunEvent]:
    """Begin the run, drive its loop, tell the hooks, settle the end. The one generator
    above the loop: `Runner.stream` returns it, `Runner.run` consumes it. Events that
    middleware `emit`s on the run's context follow the event of the stage that made them."""
    begun = await start()
    if isinstance(begun, RunState):  # nothing to run: a stored outcome
        yield RunFinished(_bare_context(begun), result_of(begun, None, ()))
        return
    settler, ctx, finished = _Settler(begun, session_store, hooks), begun.run.context, False
    begun.run.observed = streaming or settler.watches_steps
    try:
        for told in await settler.tell_all(begun.opening):
            yield told
        if begun.refused is not None:
            raise begun.refused
        if begun.respond is not None:
            settler.answer_for_model(begun.respond)
        else:
            async with aclosing(run_loop(begun.run, streaming=streaming)) as events:
                if settler.silent:
                    async for event in events:
                        yield event
                        if ctx.emitted:  # middleware reported something (a guardrail)
                            for extra in ctx.drain():
                                yield extra
                else:
                    async for event in events:
                        for told in await settler.tell_all(event):
                            yield told
        for told in await settler.tell_all(*ctx.drain()):  # from the output stage
            yield told
        result = await settler.settle()
        if result.status != "completed":
            yield await settler.tell(RunSuspended(ctx, result.pending, result.status))
        finished = True
        yield await settler.tell(RunFinished(ctx, result))
    except BaseException as error:
        if not finished:
            await settler.fail(error)
        raise
    finally:
        begun.release()


class _Settler:
    def __init__(
        self, begun: Begun, session_store: SessionStore | None, hooks: Sequence[RunHook]
    ) -> None:
        self._run = begun.run
        self._session_store = session_store
        watching = [cast(RunHook, m) for m in begun.run.middleware if _observes(type(m))]
        self._hooks = (*watching, *hooks, *begun.run.agent.hooks)

    def answer_for_model(self, reply: str) -> None:
        run = self._run
        if run.output_spec.schema is not None:
            raise RunBlocked(f"middleware answered agent {run.agent.name!r}'s input", reply=reply)
        run.state.new_messages.append(Message.assistant(reply))
        run.output, run.answered = reply, True

    async def settle(self) -> RunResult[Any]:
        run, state = self._run, self._run.state
        if state.status == "running":
            state.status = "completed"
            state.output = run.output
            if run.checkpoints.written:  # stored: as JSON, like every other field
                state.output = to_jsonable_python(run.output, fallback=str)
            await run.checkpoints.complete(state, self._session_store)
        return result_of(state, run.output, run.history)

    async def fail(self, error: BaseException) -> None:
        """Mark the run failed and tell every hook, even if one of them raises."""
        state = self._run.state
        state.status = "failed"
        state.error = f"{type(error).__name__}: {error}"
        with suppress(Exception):  # the original error matters more than a bookkeeping write
            await self._run.checkpoints.step(state)
        context = self._run.context
        for event in (*context.drain(), RunFailed(context, error)):
            for hook in self._hooks:
                with suppress(Exception):
                    await hook.on_event(event)

    async def tell(self, event: RunEvent) -> RunEvent:
        for hook in self._hooks:
            await hook.on_event(event)
        return event

    async def tell_all(self, *events: RunEvent) -> list[RunEvent]:
        """Tell `events` and then whatever middleware emitted meanwhile."""
        told = [await self.tell(e) for e in events]
        while self._run.context.emitted:
            told.extend([await self.tell(e) for e in self._run.context.drain()])
        return told

    @property
    def watches_steps(self) -> bool:
        """Whether a hook reads the step events; hooks that set `observes_steps = False`
        get only the lifecycle ones (start, resume, suspension, finish, failure)."""
        return any(getattr(h, "observes_steps", True) for h in self._hooks)

    @property
    def silent(self) -> bool:
        """No hook listens: events pass straight through (most runs, and the fast path)."""
        return not self._hooks


@cache
def _observes(kind: type) -> bool:
    """Middleware that also implement `on_event` observe the run too (tracing does).
    Asked once per class: a runtime Protocol isinstance costs ~10 µs."""
    return callable(getattr(kind, "on_event", None))


def _bare_context(state: RunState) -> RunContext:
    return RunContext(state.run_id, state.agent_name, state.session_id, principal=state.principal)
