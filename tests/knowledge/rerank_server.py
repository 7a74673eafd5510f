"""A real HTTP rerank server for the tests (a socket on 127.0.0.1, not a mock transport),
speaking the Cohere/Jina/vLLM/llama.cpp `/v1/rerank` format and TEI's `/rerank`, and
failing on demand: 503, 429, too slow, a body that is not JSON, a malformed answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Score = Callable[[str, str, int], float]


def reverse(_query: str, _document: str, index: int) -> float:
    """The fused order upside down: the last candidate sent comes back first."""
    return float(index)


class RerankServer:
    def __init__(self) -> None:
        self.behaviour = "ok"
        self.score: Score = reverse
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.stall = threading.Event()  # set: a "slow" request may end
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_port}/v1/rerank"
        self.tei_url = f"http://127.0.0.1:{self._http.server_port}/rerank"

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        if self.behaviour in ("503", "429"):
            return int(self.behaviour), b'{"error": "try later"}'
        if self.behaviour == "slow":
            self.stall.wait(10)
        if self.behaviour == "not-json":
            return 200, b"<html>gateway error</html>"
        if self.behaviour == "bad-index":
            return 200, json.dumps({"results": [{"index": 99, "relevance_score": 1.0}]}).encode()
        if path == "/rerank":  # text-embeddings-inference
            texts = body["texts"]
            scored = [
                {"index": n, "score": self.score(body["query"], t, n)} for n, t in enumerate(texts)
            ]
            return 200, json.dumps(sorted(scored, key=lambda r: -r["score"])).encode()
        docs = body["documents"]
        scored = [
            {"index": n, "relevance_score": self.score(body["query"], d, n)}
            for n, d in enumerate(docs)
        ]
        scored.sort(key=lambda r: -r["relevance_score"])
        results = scored[: body.get("top_n") or len(scored)]
        return 200, json.dumps({"id": "r1", "results": results, "meta": {}}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers answer
            disable_nagle_algorithm = True  # headers and body are two writes

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                status, payload = server.answer(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def __enter__(self) -> RerankServer:
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stall.set()
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def rerank_server() -> Iterator[RerankServer]:
    with RerankServer() as server:
        yield server
