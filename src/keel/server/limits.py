"""Request limits: body size (413 before the route reads it) and admission to model work.

`BodyLimit` is pure ASGI so it counts a chunked body as it arrives, not only the declared
`Content-Length`. `AdmissionQueue` bounds concurrent runs per model kind: past
`max_waiting` queued requests it refuses at once (429, Retry-After) rather than letting
latency grow without bound.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keel.server.problems import PROBLEM_JSON, Problem

__all__ = ["AdmissionQueue", "BodyLimit"]


class _TooLarge(HTTPException):
    """Raised while a route reads a body past the limit; an HTTPException so that
    FastAPI's body parsing passes it on (as a 413) instead of wrapping it as a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_bytes} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Content Too Large",
                "status": 413,
                "detail": f"the request body is larger than {self.max_bytes} bytes",
            }
        ).encode()
        headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class AdmissionQueue:
    """At most `max_active` holders at once and `max_waiting` waiting; more get 429."""

    def __init__(self, max_active: int, max_waiting: int, retry_after_s: int) -> None:
        self._slots = asyncio.Semaphore(max_active)
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self.waiting = 0

    async def __aenter__(self) -> None:
        if self._slots.locked() and self.waiting >= self.max_waiting:
            raise Problem(
                429,
                "the model is busy and its queue is full; retry later",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1

    async def __aexit__(self, *exc: Any) -> None:
        self._slots.release()
