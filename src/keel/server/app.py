"""`create_server`: the FastAPI application for one `App`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from keel import __version__
from keel.app import App
from keel.server import native, openai_compat, webhooks
from keel.server.auth import Authenticator
from keel.server.config import ServerSettings
from keel.server.docs import install_docs
from keel.server.limits import BodyLimit
from keel.server.openai_compat import chat_completions_route
from keel.server.problems import install_problem_handlers, problem_response
from keel.server.state import ServerState, State

__all__ = ["DRAIN_SECONDS", "create_server"]

DRAIN_SECONDS = 30.0
"""On shutdown, how long runs in flight get to finish."""


def create_server(
    app: App,
    settings: ServerSettings | None = None,
    *,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """The HTTP API serving `app`; `authenticator` replaces the configured API keys."""
    settings = settings or ServerSettings()
    if settings.stores.database:
        app = replace(app, database=settings.stores.database)
    state = ServerState.build(app, settings, authenticator)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncGenerator[None]:
        yield
        await state.runs.drain(DRAIN_SECONDS)  # graceful shutdown: in-flight runs finish
        await state.app.flush(DRAIN_SECONDS)  # then the work they left (fact extraction)
        await state.close()

    api = FastAPI(
        title=settings.title,
        version=__version__,
        docs_url=None,  # served offline by install_docs
        redoc_url=None,
        lifespan=lifespan,
    )
    api.state.keel = state
    # First of all routes, so no other is matched before it (see `openai_compat`).
    api.add_route("/v1/chat/completions", chat_completions_route, ["POST"], include_in_schema=False)
    install_problem_handlers(api)
    install_docs(api)
    api.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    api.include_router(_health_router())
    api.include_router(native.router)
    api.include_router(openai_compat.router)
    api.include_router(webhooks.router)  # issue 9: POST /webhooks/{name}
    return api


def _health_router() -> Any:
    from fastapi import APIRouter

    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def health() -> dict[str, str]:  # pyright: ignore[reportUnusedFunction]
        """The process is up (liveness)."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def ready(state: State) -> Any:  # pyright: ignore[reportUnusedFunction]
        """The stores answer (readiness): 503 while they do not."""
        try:
            await state.app.session_store.list_ids(limit=1)
            await state.app.run_store.list_runs(limit=1)
        except Exception as exc:
            return problem_response(503, f"a store does not answer: {type(exc).__name__}")
        return JSONResponse({"status": "ready", "runs_in_flight": state.runs.in_flight})

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Any:  # pyright: ignore[reportUnusedFunction]
        """The process's OpenTelemetry metrics in Prometheus text (for a scraper). Not
        `async`: FastAPI runs it on its thread pool, so a scrape's collection (every
        series, under the SDK's locks) never holds up the event loop's runs."""
        from fastapi.responses import Response

        from keel.exceptions import MissingExtraError
        from keel.observability.metrics import prometheus_text

        try:
            body, content_type = prometheus_text()
        except MissingExtraError as exc:
            return problem_response(503, str(exc))
        return Response(body, media_type=content_type)

    return router
