"""Errors as RFC 9457 problem details (`application/problem+json`).

Every refusal — bad JSON, a wrong content type, an unknown run — leaves as one small JSON
object with `status`, `title` and a `detail` a person can act on; validation problems add
`errors`, each naming the field. Only a bug in Keel gives a 500, and it shows no traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from keel.exceptions import (
    ConfigurationError,
    DecisionError,
    InvalidSessionIdError,
    RunConflictError,
    RunNotFoundError,
    RunStateError,
    SessionBusyError,
    SessionNotFoundError,
    ToolArgumentsError,
)
from keel.models.errors import ModelCallError, ModelTimeoutError, RateLimitedError

__all__ = ["PROBLEM_JSON", "Problem", "install_problem_handlers", "problem_response"]

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("keel.server")


class Problem(Exception):
    """Raise in a route to answer with a problem document."""

    def __init__(
        self, status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem_response(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status}
    body |= {"detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


# Keel errors a client can cause, and the status each maps to.
_KEEL_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (RunNotFoundError, 404),
    (SessionNotFoundError, 404),
    (SessionBusyError, 409),
    (DecisionError, 409),
    (RunConflictError, 409),
    (InvalidSessionIdError, 422),
    (ToolArgumentsError, 422),
    (RunStateError, 409),
    (ConfigurationError, 422),
    # The model behind the agent failed (a hosted API's 5xx, a refused key, a reset): a
    # bad gateway, not a bug in Keel; its own 429 and timeouts keep their meaning.
    (RateLimitedError, 429),
    (ModelTimeoutError, 504),
    (ModelCallError, 502),
)


def status_for(exc: BaseException) -> int | None:
    for kind, status in _KEEL_STATUS:
        if isinstance(exc, kind):
            return status
    return None


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)  # pyright: ignore[reportArgumentType]
    app.add_exception_handler(RequestValidationError, _on_validation)  # pyright: ignore[reportArgumentType]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # pyright: ignore[reportArgumentType]
    for kind, _ in _KEEL_STATUS:
        app.add_exception_handler(kind, _on_keel)
    app.add_exception_handler(Exception, _on_bug)


async def _on_problem(request: Request, exc: Problem) -> JSONResponse:
    return problem_response(exc.status, exc.detail, headers=exc.headers, **exc.extra)


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors: list[dict[str, str]] = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        errors.append({"field": ".".join(loc), "message": str(error.get("msg", ""))})
    if any(e["message"].startswith("JSON decode error") for e in errors):
        return problem_response(400, "the request body is not valid JSON", errors=errors)
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    detail = f"{first['field']}: {first['message']}"
    return problem_response(422, detail, errors=errors)


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return problem_response(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


async def _on_keel(request: Request, exc: Exception) -> JSONResponse:
    wait = getattr(exc, "retry_after", None)  # a model's Retry-After, passed on
    headers = None if wait is None else {"Retry-After": str(max(1, round(wait)))}
    return problem_response(status_for(exc) or 400, str(exc), headers=headers)


async def _on_bug(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "an internal error occurred; it has been logged")
