"""`keel worker`: run the app's agent runs as Temporal workflows (`temporal`, `redis` extras)."""

from __future__ import annotations

import asyncio

from keel._cli.errors import USAGE_ERROR, CliError, reported
from keel._cli.target import load_app_from_cwd
from keel._cli.ui import print_note, stderr_console

__all__ = ["work"]


def work(app_path: str | None, config: str | None) -> None:
    err = stderr_console()
    with reported(err):
        from keel.server import ServerSettings, load_settings
        from keel.worker import run_worker

        settings = load_settings(config) if config else ServerSettings()
        temporal, redis_url = settings.temporal, settings.stores.redis_url
        if temporal is None or redis_url is None:
            raise CliError(
                "keel worker needs [temporal] and stores.redis_url in --config", code=USAGE_ERROR
            )
        app = load_app_from_cwd(app_path or settings.app)
        if settings.stores.database:
            from dataclasses import replace

            app = replace(app, database=settings.stores.database)
        print_note(err, f"worker on task queue {temporal.task_queue!r} at {temporal.address}")
        asyncio.run(
            run_worker(
                app,
                address=temporal.address,
                namespace=temporal.namespace,
                task_queue=temporal.task_queue,
                redis_url=redis_url,
            )
        )
