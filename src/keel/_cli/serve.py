"""`keel serve`: the app over HTTP with uvicorn (the `server` extra)."""

from __future__ import annotations

import sys

from keel._cli.errors import reported
from keel._cli.target import load_app_from_cwd
from keel._cli.ui import print_note, stderr_console

__all__ = ["serve"]


SWITCH_INTERVAL_S = 0.0005


def serve(app_path: str | None, config: str | None, host: str | None, port: int | None) -> None:
    err = stderr_console()
    with reported(err):
        from keel.server import ServerSettings, create_server, load_settings

        settings = load_settings(config) if config else ServerSettings()
        updates = {"host": host, "port": port, "app": app_path}
        settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
        app = load_app_from_cwd(settings.app)
        api = create_server(app, settings)
        import uvicorn

        # Background threads (telemetry, the SQLite writer) hold the GIL for up to the
        # interpreter's switch interval, 5 ms, while the event loop waits: a p99 of +3-4 ms
        # on busy servers. A shorter interval bounds that wait (BENCHMARKS.md, issue 12).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        print_note(
            err,
            f"serving {len(app.agents)} agent(s) on http://{settings.host}:{settings.port}"
            " — API docs at /docs",
        )
        uvicorn.run(
            api,
            host=settings.host,
            port=settings.port,
            log_level="info",
            timeout_graceful_shutdown=int(settings.request_timeout_s),
        )
