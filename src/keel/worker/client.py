"""`TemporalRuns`: how the API starts runs on workers and watches them.

The API subscribes to the run's event channel, then starts the `KeelRun` workflow with
the run id as its workflow id — a client retrying with the same run id reaches the same
workflow, never a second run. Events stream back over Redis; the final answer is also
the workflow's result, so a JSON request needs no subscription to be right.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from keel.worker.bus import EventBus, Subscription
from keel.worker.wire import RunRequest
from keel.worker.workflow import KeelRun

__all__ = ["RemoteRun", "TemporalRuns"]


class RemoteRun:
    def __init__(
        self, handle: WorkflowHandle[Any, Any], events: Subscription, *, ended: bool = False
    ) -> None:
        self.handle = handle
        self._events = events
        self.ended = ended
        """The run had already finished: its result is all there is to stream."""

    async def wire_events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        if self.ended:
            await self._events.close()
            yield "run_finished", await self.handle.result()
            return
        async for event in self._events.events():
            yield event

    async def outcome(self, timeout: float | None) -> dict[str, Any]:
        await self._events.close()
        return await asyncio.wait_for(self.handle.result(), timeout)


class TemporalRuns:
    def __init__(self, address: str, namespace: str, task_queue: str, redis_url: str) -> None:
        self.address, self.namespace, self.task_queue = address, namespace, task_queue
        self.bus = EventBus(redis_url)
        self._client: Client | None = None

    async def client(self) -> Client:
        if self._client is None:
            self._client = await Client.connect(self.address, namespace=self.namespace)
        return self._client

    async def start(self, request: RunRequest) -> RemoteRun:
        events = await self.bus.subscribe(request.run_id)  # before the run can publish
        client = await self.client()
        workflow_id = f"keel-run-{request.run_id}"
        try:
            handle = await client.start_workflow(
                KeelRun.run,
                request,
                id=workflow_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,  # running: join it
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,  # ended: never again
            )
        except WorkflowAlreadyStartedError:
            return RemoteRun(client.get_workflow_handle(workflow_id), events, ended=True)
        return RemoteRun(handle, events)

    async def state(self, run_id: str) -> dict[str, Any] | None:
        """The run's status and pending actions; None when no such run was started."""
        client = await self.client()
        handle = client.get_workflow_handle(f"keel-run-{run_id}")
        try:
            return await handle.query(KeelRun.state)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def decide(self, run_id: str, pending_id: str, approve: bool, reason: str) -> None:
        client = await self.client()
        handle = client.get_workflow_handle(f"keel-run-{run_id}")
        await handle.signal(KeelRun.decide, args=[pending_id, approve, reason])
