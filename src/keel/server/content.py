"""Request bodies: a body that is not JSON is refused with 415, not guessed at; a route
that reads its body itself (`json_body`) refuses a bad one exactly as FastAPI would."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from keel.server.problems import Problem

__all__ = ["json_body", "require_json"]

ModelT = TypeVar("ModelT", bound=BaseModel)


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


def json_body(model: type[ModelT], raw: bytes) -> ModelT:
    """`raw` as a `model`, or the `RequestValidationError` FastAPI raises for a body
    parameter (the same errors, located under `body`), so the same 400/422 answers."""
    if not raw:
        raise RequestValidationError([_error("missing", ("body",), "Field required", None)])
    try:
        data = json.loads(raw)  # the stdlib, as FastAPI: the same numbers, the same errors
    except json.JSONDecodeError as exc:
        error = _error("json_invalid", ("body", exc.pos), "JSON decode error", {})
        raise RequestValidationError([error | {"ctx": {"error": exc.msg}}]) from None
    except ValueError:  # not UTF-8
        raise HTTPException(400, "There was an error parsing the body") from None
    try:
        return model.model_validate(data, from_attributes=True)  # as FastAPI: its messages
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None


def _error(kind: str, loc: tuple[Any, ...], msg: str, given: object) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg, "input": given}
