"""Swagger UI (`/docs`) and Redoc (`/redoc`) served from this process, offline.

FastAPI's default pages load their JavaScript from a CDN (and Redoc its fonts from Google),
which fails on a machine without internet access (this project's rule: nothing downloads
at run time). The assets come from the `fastapi-offline` package instead (MIT; it ships
Swagger UI's bundle and Redoc's standalone build), mounted at `/docs/assets`; Redoc runs
with the browser's fonts.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "install_docs"]

ASSETS = "/docs/assets"


def install_docs(app: FastAPI) -> None:
    import fastapi_offline

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount(ASSETS, StaticFiles(directory=static), name="docs-assets")
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:  # pyright: ignore[reportUnusedFunction]
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:  # pyright: ignore[reportUnusedFunction]
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=title,
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
