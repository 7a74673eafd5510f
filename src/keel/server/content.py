"""Content-type checks: a body that is not JSON is refused with 415, not guessed at."""

from __future__ import annotations

from fastapi import Request

from keel.server.problems import Problem

__all__ = ["require_json"]


async def require_json(request: Request) -> None:
    """For routes that take a JSON body: a body sent as anything else gets 415."""
    has_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    if not has_body:
        return
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise Problem(415, f"send the body as application/json, not {kind or 'no content type'}")
