"""`run_worker`: a process that executes the app's runs as Temporal workflows."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from keel.app import App
from keel.worker.activities import KeelActivities
from keel.worker.bus import EventBus
from keel.worker.workflow import KeelRun, serve_app

__all__ = ["DRAIN_SECONDS", "run_worker"]

DRAIN_SECONDS = 30
"""On SIGTERM, how long activities in flight get to finish before the worker stops."""


async def run_worker(
    app: App,
    *,
    address: str,
    redis_url: str,
    namespace: str = "default",
    task_queue: str = "keel",
    max_concurrent: int = 100,
) -> None:
    """Poll `task_queue` until SIGTERM or SIGINT, then drain and stop."""
    serve_app(app)
    from keel.storage.redis_sessions import cache_sessions

    cache = cache_sessions(app, redis_url)  # load_history reads through it
    client = await Client.connect(address, namespace=namespace)
    bus = EventBus(redis_url)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[KeelRun],
        activities=KeelActivities(app, bus).all(),
        max_concurrent_activities=max_concurrent,
        max_concurrent_workflow_tasks=max_concurrent,
        graceful_shutdown_timeout=timedelta(seconds=DRAIN_SECONDS),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()
    await bus.close()
    if cache is not None:
        await cache.close()
