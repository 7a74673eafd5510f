"""When a run's state is written to its `RunStore`.

A durable runner (one given a `run_store`) writes at every step boundary: the run's
start, each model answer, each side-effecting tool call before and after it runs, each
suspension, the end. A runner without one keeps the fast path: it writes a run only when
it suspends, into an in-memory store, and from then on like a durable one.
"""

from __future__ import annotations

from dataclasses import dataclass

from keel.memory.session import SessionStore
from keel.runs.state import RunState
from keel.runs.store import RunStore, save_turn

__all__ = ["Checkpointer"]


@dataclass(slots=True)
class Checkpointer:
    store: RunStore
    durable: bool
    written: bool = False

    async def start(self, state: RunState) -> None:
        if self.durable:
            await self.store.start(state)
            self.written = True

    async def step(self, state: RunState) -> None:
        """A step boundary: written if this run is being kept."""
        if self.written:
            await self.store.checkpoint(state)

    async def complete(self, state: RunState, sessions: SessionStore | None) -> None:
        """The end: the run (if kept) and its turn in the session, together."""
        if self.written:
            await self.store.complete(state, sessions)
        else:
            await save_turn(sessions, state)

    async def keep(self, state: RunState) -> None:
        """A suspension: always written, the run must outlive this call."""
        await self.store.checkpoint(state)
        self.written = True
