"""`FakeLLMServer`: a real HTTP server on 127.0.0.1 that speaks the OpenAI or the
Anthropic wire format, plays scripted answers and faults, and records every request.

Stdlib `http.server` on a thread, not an ASGI app: a fault such as a TCP reset or a
stream cut mid-chunk needs the raw socket, and a thread lets synchronous tests and
benchmarks use it too. The official SDKs talk to it unchanged (HTTP/1.1 keep-alive,
chunked SSE), so everything between Keel and the wire is exercised.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from keel.testing.fake_llm._anthropic import anthropic_body, anthropic_error, anthropic_events
from keel.testing.fake_llm._openai import openai_body, openai_error, openai_events
from keel.testing.fake_llm._script import Answer, FakeReply, Fault

__all__ = ["FakeLLMServer", "RecordedRequest", "Wire"]

Wire = Literal["openai", "anthropic"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def last_user_text(self) -> str:
        messages: list[dict[str, Any]] = self.body.get("messages", [])
        users = [m for m in messages if m.get("role") == "user"]
        if not users:
            return ""
        content: str | list[dict[str, Any]] = users[-1].get("content", "")
        if isinstance(content, list):
            return "".join(str(p.get("text", "")) for p in content)
        return content


class FakeLLMServer:
    """Start with `with FakeLLMServer("openai") as server:`; point an SDK at `base_url`.

    `script(...)` queues answers (`FakeReply`, `Fault`), one per request; with the queue
    empty, the server answers `default` (a `FakeReply`, "ok" unless set).
    """

    def __init__(self, wire: Wire = "openai", *, default: FakeReply | None = None) -> None:
        self.wire: Wire = wire
        self.default = default or FakeReply("ok")
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """What to give the SDK: `…/v1` for OpenAI, the bare origin for Anthropic."""
        origin = f"http://127.0.0.1:{self.port}"
        return f"{origin}/v1" if self.wire == "openai" else origin

    def script(self, *answers: Answer) -> FakeLLMServer:
        with self._lock:
            self._queue.extend(answers)
        return self

    def next_answer(self, request: RecordedRequest) -> Answer:
        with self._lock:
            self.requests.append(request)
            return self._queue.popleft() if self._queue else self.default

    @property
    def pending(self) -> int:
        """Scripted answers not played yet."""
        return len(self._queue)

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # a quick shutdown: a test stops one each
            name=f"fake-{self.wire}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs: the SDK reuses connections
    # Headers and body go out as two writes; with Nagle on, the second waits for the
    # client's delayed ACK (~40 ms on Linux), so an "instant" model took 40 ms.
    disable_nagle_algorithm = True
    fake: FakeLLMServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read `requests`, not the log

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        body: dict[str, Any] = json.loads(raw) if raw else {}
        request = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        answer = self.fake.next_answer(request)
        try:
            self._play(answer, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout): nothing to do

    def _play(self, answer: Answer, body: dict[str, Any]) -> None:
        if isinstance(answer, FakeReply):
            time.sleep(answer.delay)
            self._reply(answer, body)
        elif answer.kind == "status":
            self._error(answer)
        elif answer.kind == "reset":
            self._reset()
        elif answer.kind == "malformed":
            self._send(200, b'{"id": "chatcmpl-fake", "choices": [', "application/json")
        elif answer.kind == "body":
            self._send(200, answer.message.encode(), "application/json")
        else:
            self._cut(answer, body)

    def _reply(self, reply: FakeReply, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        if body.get("stream"):
            self._stream(self._events(reply, body), limit=None)
        elif self.fake.wire == "openai":
            self._json(200, openai_body(reply, model))
        else:
            self._json(200, anthropic_body(reply, model))

    def _events(self, reply: FakeReply, body: dict[str, Any]) -> Iterator[bytes]:
        model = str(body.get("model", ""))
        if self.fake.wire == "anthropic":
            return anthropic_events(reply, model)
        options: dict[str, Any] = body.get("stream_options") or {}
        include_usage = bool(options.get("include_usage"))
        return openai_events(reply, model, include_usage)

    def _error(self, fault: Fault) -> None:
        render = openai_error if self.fake.wire == "openai" else anthropic_error
        payload = json.dumps(render(fault.status, fault.message, fault.code)).encode()
        headers = {} if fault.retry_after is None else {"retry-after": f"{fault.retry_after:g}"}
        self._send(fault.status, payload, "application/json", headers)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends RST instead of FIN — a "connection reset by peer".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _hang_up(self) -> None:
        # FIN, not RST: what was sent is still delivered, then the stream just ends.
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _cut(self, fault: Fault, body: dict[str, Any]) -> None:
        if body.get("stream"):
            self._stream(self._events(fault.reply, body), limit=fault.after_chunks)
            return
        whole = json.dumps(
            openai_body(fault.reply, "")
            if self.fake.wire == "openai"
            else anthropic_body(fault.reply, "")
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(whole)))
        self.end_headers()
        self.wfile.write(whole[: len(whole) // 2])
        self.wfile.flush()
        self._reset()

    def _stream(self, events: Iterable[bytes], *, limit: int | None) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for sent, event in enumerate(events):
            if limit is not None and sent >= limit:
                self._hang_up()  # mid-stream, no terminating chunk: the stream is cut
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
