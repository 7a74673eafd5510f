"""`keel serve`: the app over HTTP with uvicorn (the `server` extra)."""

from __future__ import annotations

from keel._cli.errors import reported
from keel._cli.target import load_app_from_cwd
from keel._cli.ui import print_note, stderr_console

__all__ = ["serve"]


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
