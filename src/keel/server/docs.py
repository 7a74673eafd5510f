"""Swagger UI served from this process, offline.

FastAPI's default `/docs` page loads Swagger UI from a CDN, which fails on a machine
without internet access (this project's rule: nothing downloads at run time). The assets
come from the `swagger-ui-bundle` package instead, mounted at `/docs/assets`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["install_docs"]


def install_docs(app: FastAPI) -> None:
    from swagger_ui_bundle import swagger_ui_path  # pyright: ignore[reportMissingTypeStubs]

    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:  # pyright: ignore[reportUnusedFunction]
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )
