"""Re-ranking: a second model orders the fused candidates by relevance to the query.

A cross-encoder reads query and passage together, which the embedder and BM25 cannot,
so it often puts the right passage first where fusion had it third. It is optional (off
unless a `Reranker` is given) and never essential: a reranker that fails raises
`RerankError`, and the knowledge base then answers in fused order and says so.

`HttpReranker` speaks the de-facto rerank wire format — Cohere's `/v2/rerank`, Jina's
and vLLM's `/v1/rerank`, llama.cpp's server (`--reranking`), OpenVINO Model Server:

    POST {"model": ..., "query": ..., "documents": ["...", ...], "top_n": 3}
    200  {"results": [{"index": 2, "relevance_score": 0.97}, ...]}

and, with `api="tei"`, HuggingFace text-embeddings-inference's own `POST /rerank`
(`{"query", "texts"}` answered by a bare list of `{"index", "score"}`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Literal, Protocol, cast, runtime_checkable

from keel.exceptions import ConfigurationError, KeelError, MissingExtraError

__all__ = ["HttpReranker", "RerankError", "Reranker"]

RerankApi = Literal["cohere", "tei"]


class RerankError(KeelError):
    """The reranker gave no usable answer (HTTP error, timeout, malformed body); the
    message says which, for the note on the search result and the log."""


@runtime_checkable
class Reranker(Protocol):
    name: str
    """Shown in notes and logs (the model, or the endpoint)."""

    def rerank(self, query: str, documents: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        """(index into `documents`, relevance score), best first, at most `top_n`;
        `RerankError` when it cannot answer. Scores are the model's own scale."""
        ...


class HttpReranker:
    """A rerank endpoint over HTTP (`url` is the full endpoint, e.g.
    `http://127.0.0.1:8080/v1/rerank`). No retries: a re-rank is worth less than the
    latency of a second attempt, so a failure falls back to fused order at once."""

    def __init__(
        self,
        url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 5.0,
        api: RerankApi = "cohere",
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"a rerank url must start with http:// or https://: {url!r}")
        if not timeout > 0:
            raise ConfigurationError(f"a rerank timeout must be positive, got {timeout}")
        if api not in ("cohere", "tei"):
            raise ConfigurationError(f"api must be 'cohere' or 'tei', got {api!r}")
        try:
            import httpx
        except ImportError as exc:
            raise MissingExtraError("the HTTP reranker", "rerank") from exc
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)
        self.url, self.model, self.api, self.timeout = url, model, api, timeout
        self.name = model or url

    def rerank(self, query: str, documents: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        import httpx

        try:
            response = self._client.post(self.url, json=self._body(query, documents, top_n))
        except httpx.TimeoutException:
            raise RerankError(f"no answer from {self.url} within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise RerankError(f"{self.url} unreachable: {exc}") from None
        if response.status_code != 200:
            raise RerankError(f"{self.url} answered HTTP {response.status_code}")
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RerankError(f"{self.url} answered with a body that is not JSON") from None
        return parse_results(data, len(documents))[:top_n]

    def _body(self, query: str, documents: Sequence[str], top_n: int) -> dict[str, Any]:
        if self.api == "tei":
            return {"query": query, "texts": list(documents), "truncate": True}
        body: dict[str, Any] = {"query": query, "documents": list(documents), "top_n": top_n}
        return {"model": self.model, **body} if self.model else body

    def close(self) -> None:
        self._client.close()


def parse_results(data: object, count: int) -> list[tuple[int, float]]:
    """(index, score) best first from either answer's shape: `{"results": [{"index",
    "relevance_score"}]}` or TEI's `[{"index", "score"}]`. An index out of range or
    repeated, or a score that is not a finite number, is a `RerankError`."""
    items = cast("dict[str, object]", data).get("results") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise RerankError("the answer has no list of results")
    ranked: dict[int, float] = {}
    for item in cast("list[object]", items):
        index, score = _item(item)
        if not 0 <= index < count or index in ranked:
            raise RerankError(f"the answer names document {index} of {count}, or twice")
        ranked[index] = score
    return sorted(ranked.items(), key=lambda pair: (-pair[1], pair[0]))


def _item(item: object) -> tuple[int, float]:
    if not isinstance(item, dict):
        raise RerankError("a result is not an object")
    fields = cast("dict[str, object]", item)
    index = fields.get("index")
    score = fields.get("relevance_score", fields.get("score"))
    if not isinstance(index, int) or isinstance(index, bool):
        raise RerankError(f"a result's index is not a whole number: {index!r}")
    if not isinstance(score, int | float) or isinstance(score, bool) or not math.isfinite(score):
        raise RerankError(f"a result's score is not a finite number: {score!r}")
    return index, float(score)
