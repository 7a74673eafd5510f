"""How a run begins: fresh from input, or resumed from its stored state.

Each is a coroutine that returns either a `Begun` run to drive — holding the session's
in-process lock until the driver releases it at the run's end — or, when there is nothing
to run, the stored `RunState` whose outcome is returned as it is. Plain coroutines, not
context managers: the fast path of every run goes through here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel._run.active import ActiveRun
from keel._run.checkpoint import Checkpointer
from keel._run.handoff import HANDOFF_KEY, take_handoff
from keel._run.locks import HeldLock
from keel._run.prepare import (
    RunInput,
    activate,
    input_messages,
    load_history,
    new_state,
)
from keel.agent import Agent
from keel.events import RunResumed, RunStarted
from keel.exceptions import ConfigurationError, DecisionError, RunConflictError, RunNotFoundError
from keel.messages import Message
from keel.middleware import Respond
from keel.principal import Principal
from keel.runs.pending import Decision, DecisionRecord
from keel.runs.state import RunState
from keel.runs.store import save_turn

if TYPE_CHECKING:
    from keel.run import Runner

__all__ = ["Begun", "Start", "new_start", "resume_start"]


@dataclass(frozen=True, slots=True)
class Begun:
    run: ActiveRun
    opening: RunStarted | RunResumed
    respond: str | None = None
    """Set when input middleware answered in the model's place."""
    lock: HeldLock | None = None
    """The session's lock, held until the run ends."""
    refused: Exception | None = None
    """What input middleware raised (a guardrail in raise mode): the run is told started,
    then failed with it, so hooks see the run and what its input stage reported."""

    def release(self) -> None:
        self.release_lock(self.lock)

    @staticmethod
    def release_lock(lock: HeldLock | None) -> None:
        if lock is not None:
            lock.release()


Start = Callable[[], Awaitable[Begun | RunState]]


async def new_start(
    runner: Runner,
    agent: Agent[Any],
    input: RunInput,
    *,
    session_id: str | None,
    deps: Any,
    run_id: str | None,
    principal: Principal,
    parent_run_id: str | None,
) -> Begun | RunState:
    messages = input_messages(input)
    state = new_state(
        agent,
        run_id=run_id,
        session_id=session_id,
        principal=principal,
        parent_run_id=parent_run_id,
    )
    if run_id is not None and (stored := await _stored(runner, run_id, principal)) is not None:
        return stored
    lock = (
        None if session_id is None else await runner.locks.acquire(principal.tenant_id, session_id)
    )
    try:
        return await _begin_new(runner, agent, state, messages, deps, lock=lock)
    except BaseException:
        Begun.release_lock(lock)
        raise


async def _begin_new(
    runner: Runner,
    agent: Agent[Any],
    state: RunState,
    messages: list[Message],
    deps: Any,
    *,
    lock: HeldLock | None,
) -> Begun:
    history = [] if state.session_id is None else await load_history(runner.session_store, state)
    state.history_len = len(history)
    checkpoints = Checkpointer(runner.run_store, runner.durable)
    run = await activate(
        agent,
        state,
        history,
        middleware=runner.middleware,
        checkpoints=checkpoints,
        deps=deps,
        runner=runner,
    )
    try:
        passed = await run.pipeline.input(run.context, messages)
    except Exception as error:  # the refused input is not passed on: it may be what was refused
        opening = RunStarted(run.context, (), run.model.name, run.model.provider)
        return Begun(run, opening, lock=lock, refused=error)
    respond = passed.text if isinstance(passed, Respond) else None
    state.new_messages = messages if isinstance(passed, Respond) else passed
    if respond is None and HANDOFF_KEY in state.metadata:
        await take_handoff(run)  # input middleware (a router) chose the agent
    if checkpoints.durable:
        await checkpoints.start(state)
    opening = RunStarted(run.context, tuple(state.new_messages), run.model.name, run.model.provider)
    return Begun(run, opening, respond, lock)


async def _stored(runner: Runner, run_id: str, principal: Principal) -> RunState | None:
    """A run already stored under a caller's run id: its outcome, not a second run."""
    try:
        state = await runner.run_store.load(run_id, tenant_id=principal.tenant_id)
    except RunNotFoundError:
        return None
    if state.status in ("running", "failed"):
        detail = f": {state.error}" if state.error else ""
        raise RunConflictError(
            f"run {run_id!r} already exists and is {state.status}{detail}; "
            "use a new run id, or `keel runs resume` for a run whose process stopped"
        )
    return state


async def resume_start(
    runner: Runner,
    run_id: str,
    decisions: Mapping[str, Decision],
    principal: Principal,
    deps: Any,
) -> Begun | RunState:
    store, tenant = runner.run_store, principal.tenant_id
    state = await store.load(run_id, tenant_id=tenant)
    await _refuse_final(runner, state)
    if decisions:
        records = _records(runner, state, decisions, principal)
        state = await store.decide(run_id, records, tenant_id=tenant)
    if state.status != "running" and state.undecided:
        return state  # still waiting on someone: nothing runs yet
    agent = _agent_for(runner, state)
    lock = await runner.locks.acquire(tenant, state.session_id)
    try:
        state = await store.claim(run_id, tenant_id=tenant)
        history = await load_history(runner.session_store, state, limit=state.history_len)
        checkpoints = Checkpointer(store, runner.durable, written=True)
        run = await activate(
            agent,
            state,
            history,
            middleware=runner.middleware,
            checkpoints=checkpoints,
            deps=deps,
            runner=runner,
        )
    except BaseException:
        Begun.release_lock(lock)
        raise
    return Begun(run, RunResumed(run.context, dict(decisions)), lock=lock)


async def _refuse_final(runner: Runner, state: RunState) -> None:
    if state.status not in ("completed", "failed"):
        return
    if state.status == "completed":
        # A process that died between completing the run and saving its turn: save it now
        # (a no-op when the turn is there: appends are idempotent per run).
        await save_turn(runner.session_store, state)
    raise RunConflictError(f"run {state.run_id!r} is already {state.status}; nothing to resume")


def _records(
    runner: Runner, state: RunState, decisions: Mapping[str, Decision], principal: Principal
) -> list[DecisionRecord]:
    import time

    pending = {p.id: p for p in state.pending}
    records: list[DecisionRecord] = []
    for pending_id, decision in decisions.items():
        action = pending.get(pending_id)
        if action is not None and not runner.can_decide(principal, action, state):
            raise DecisionError(
                f"{principal.label} may not decide {pending_id!r} of run {state.run_id!r}"
            )
        records.append(DecisionRecord(pending_id, decision, principal, time.time()))
    return records


def _agent_for(runner: Runner, state: RunState) -> Agent[Any]:
    agent = runner.agent_named(state.agent_name)
    if agent is None:
        raise ConfigurationError(
            f"run {state.run_id!r} belongs to agent {state.agent_name!r}, which this runner "
            "does not know; create the Runner with agents=[...] (an App does this) or run "
            "that agent once in this process"
        )
    return agent
