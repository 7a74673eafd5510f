"""`Runner`: runs an agent — `run`, `run_sync`, `stream` — and continues stored runs
with `resume`. It wires the stores and middleware, drives the loop in `keel._run`, hands
every event to the hooks, and settles the end of a run: a completed run's turn goes to
the session (once), a suspended one waits in the run store, a failed one writes nothing
to the session.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from functools import partial
from typing import Any, TypeVar

from keel._run.finish import drive
from keel._run.locks import SessionLocks
from keel._run.prepare import RunInput
from keel._run.starts import Start, new_start, resume_start
from keel.agent import Agent
from keel.events import RunEvent, RunFinished, RunHook
from keel.exceptions import RunError
from keel.memory.session import SessionStore
from keel.middleware import Middleware
from keel.principal import ANONYMOUS, Principal
from keel.result import RunResult
from keel.runs.pending import Decision, PendingAction
from keel.runs.state import RunState
from keel.runs.store import InMemoryRunStore, RunStore

__all__ = ["DecisionPolicy", "Runner"]

OutputT = TypeVar("OutputT")

DecisionPolicy = Callable[[Principal, PendingAction, RunState], bool]
"""Whether a principal may decide a pending action. Tenants are already kept apart."""


def _anyone_in_tenant(principal: Principal, pending: PendingAction, state: RunState) -> bool:
    return True


class Runner:
    """Runs agents. Share one runner per process; it holds no per-run state.

    `session_store` keeps conversations; `run_store` keeps runs durable (checkpointed at
    every step, resumable from any process sharing it — without one, a run is stored
    only if it suspends, in memory). `middleware` wraps every run (outermost first);
    `hooks` observe every event. `agents` are the ones `resume` can continue by name
    (agents this runner has run are remembered too). `can_decide` says who may approve.
    """

    def __init__(
        self,
        *,
        session_store: SessionStore | None = None,
        run_store: RunStore | None = None,
        hooks: Sequence[RunHook] = (),
        middleware: Sequence[Middleware] = (),
        agents: Sequence[Agent[Any]] = (),
        can_decide: DecisionPolicy = _anyone_in_tenant,
    ) -> None:
        self.session_store = session_store
        self.run_store: RunStore = run_store or InMemoryRunStore()
        self.durable = run_store is not None
        self.hooks = tuple(hooks)
        self.middleware = tuple(middleware)
        self.can_decide = can_decide
        self._agents: dict[str, Agent[Any]] = {a.name: a for a in agents}
        self.locks = SessionLocks()
        """Runs on one session take turns in this process."""

    async def run(
        self,
        agent: Agent[OutputT],
        input: RunInput,
        *,
        session_id: str | None = None,
        deps: Any = None,
        run_id: str | None = None,
        principal: Principal | None = None,
        parent_run_id: str | None = None,
    ) -> RunResult[OutputT]:
        """Run to a final answer, or until the run suspends (see `RunResult.status`).

        With a `run_id` that is already stored, nothing runs again: the stored outcome
        is returned (a client retrying a request gets the same run).
        """
        start = self._new(
            agent,
            input,
            session_id=session_id,
            deps=deps,
            run_id=run_id,
            principal=principal,
            parent_run_id=parent_run_id,
        )
        return await self._result(start, streaming=False)

    def run_sync(
        self,
        agent: Agent[OutputT],
        input: RunInput,
        *,
        session_id: str | None = None,
        deps: Any = None,
        run_id: str | None = None,
        principal: Principal | None = None,
    ) -> RunResult[OutputT]:
        """`run` for code without an event loop; not callable from inside one."""
        import asyncio  # not at module level: it is ~20 ms of `import keel`

        run = self.run(
            agent, input, session_id=session_id, deps=deps, run_id=run_id, principal=principal
        )
        return asyncio.run(run)

    def stream(
        self,
        agent: Agent[OutputT],
        input: RunInput,
        *,
        session_id: str | None = None,
        deps: Any = None,
        run_id: str | None = None,
        principal: Principal | None = None,
        parent_run_id: str | None = None,
        deltas: bool = True,
    ) -> AsyncGenerator[RunEvent]:
        """Yield every event as it happens; the last one is `RunFinished` with the result.

        Text arrives as `TextDelta` events; tool calls as `ToolCallStarted/Finished`.
        `deltas=False` asks the model for each whole answer instead (no `TextDelta`s, as
        `run` does): for a caller that wants the run's events but not its text as it comes.
        """
        start = self._new(
            agent,
            input,
            session_id=session_id,
            deps=deps,
            run_id=run_id,
            principal=principal,
            parent_run_id=parent_run_id,
        )
        return self._drive(start, streaming=deltas)

    async def resume(
        self,
        run_id: str,
        *,
        decisions: Mapping[str, Decision] | None = None,
        principal: Principal | None = None,
        deps: Any = None,
    ) -> RunResult[Any]:
        """Continue a stored run: record `decisions` (pending id → `Approve()` or
        `Reject(reason)`), then run on if nothing is left undecided; a run whose process
        died continues from its last checkpoint. Exactly one of racing resumes wins."""
        return await self._result(self._resume(run_id, decisions, principal, deps), False)

    def stream_resume(
        self,
        run_id: str,
        *,
        decisions: Mapping[str, Decision] | None = None,
        principal: Principal | None = None,
        deps: Any = None,
    ) -> AsyncGenerator[RunEvent]:
        """`resume`, yielding events as `stream` does."""
        return self._drive(self._resume(run_id, decisions, principal, deps), streaming=True)

    async def get_run(self, run_id: str, *, principal: Principal | None = None) -> RunState:
        """The stored state of a run of the principal's tenant; RunNotFoundError if none."""
        tenant = (principal or ANONYMOUS).tenant_id
        return await self.run_store.load(run_id, tenant_id=tenant)

    def remember(self, agent: Agent[Any]) -> None:
        """Let `resume` find `agent` by name."""
        self._agents[agent.name] = agent

    def _new(
        self,
        agent: Agent[Any],
        input: RunInput,
        *,
        session_id: str | None,
        deps: Any,
        run_id: str | None,
        principal: Principal | None,
        parent_run_id: str | None,
    ) -> Start:
        self.remember(agent)
        who = principal or ANONYMOUS
        return partial(
            new_start,
            self,
            agent,
            input,
            session_id=session_id,
            deps=deps,
            run_id=run_id,
            principal=who,
            parent_run_id=parent_run_id,
        )

    def _resume(
        self,
        run_id: str,
        decisions: Mapping[str, Decision] | None,
        principal: Principal | None,
        deps: Any,
    ) -> Start:
        who = principal or ANONYMOUS
        return partial(resume_start, self, run_id, dict(decisions or {}), who, deps)

    def agent_named(self, name: str) -> Agent[Any] | None:
        return self._agents.get(name)

    async def _result(self, start: Start, streaming: bool) -> RunResult[Any]:
        async with aclosing(self._drive(start, streaming=streaming)) as events:
            async for event in events:
                if isinstance(event, RunFinished):
                    return event.result
        raise RunError("the run ended without a result")  # unreachable by construction

    def _drive(self, start: Start, *, streaming: bool) -> AsyncGenerator[RunEvent]:
        return drive(start, self.session_store, self.hooks, streaming=streaming)
