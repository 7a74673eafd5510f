"""Optional re-ranking through a real local `/v1/rerank` server: the reranker's order and
scores reach the citations, the similarity floor keeps its meaning, and every failure
(5xx, 429, timeout, a body that is not JSON, a malformed answer) leaves the fused order,
marked and logged, never an error."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.cli import cli
from keel.exceptions import ConfigurationError
from keel.knowledge import HttpReranker, KnowledgeBase, KnowledgeStore, SQLiteKnowledgeStore
from keel.knowledge.tool import format_results
from keel.storage import SQLiteDatabase
from tests.knowledge.conftest import CachedEmbedder
from tests.knowledge.rerank_server import RerankServer

CORPUS = Path(__file__).parent / "corpus"
QUERY = "how long do card refunds take?"


def corpus_kb(store: KnowledgeStore, embedder: CachedEmbedder, **options: object) -> KnowledgeBase:
    kb = KnowledgeBase(store, embedder, **options)  # type: ignore[arg-type]
    kb.ingest(CORPUS)
    return kb


@pytest.fixture
def sqlite_store(tmp_path: Path) -> SQLiteKnowledgeStore:
    return SQLiteKnowledgeStore(SQLiteDatabase(tmp_path / "kb.db"))


def test_the_reranker_orders_the_fused_candidates_and_its_score_is_cited(
    store: KnowledgeStore, embedder: CachedEmbedder, rerank_server: RerankServer
) -> None:
    reranker = HttpReranker(rerank_server.url, "jina-reranker-v2", api_key="sk-test")
    kb = corpus_kb(store, embedder, reranker=reranker, rerank_candidates=8)
    fused = kb.search(QUERY, k=8, rerank=False).hits

    result = kb.search(QUERY, k=3)

    (request,) = rerank_server.requests
    assert request["model"] == "jina-reranker-v2" and request["query"] == QUERY
    assert request["top_n"] == 3 and len(request["documents"]) == 8
    assert request["documents"][0] == f"{fused[0].citation.heading}\n{fused[0].text}"
    assert rerank_server.headers[0]["Authorization"] == "Bearer sk-test"
    assert result.rerank == "applied" and result.note == ""
    last_first = [d.split("\n", 1)[1] for d in reversed(request["documents"])]
    assert [h.text for h in result.hits] == last_first[:3]
    assert [h.citation.rerank_score for h in result.hits] == [7.0, 6.0, 5.0]
    assert "re-rank 7.000" in str(result.hits[0].citation)
    assert "re-rank 7.000" in format_results(result)


@pytest.mark.parametrize("behaviour", ["503", "429", "slow", "not-json", "bad-index"])
def test_a_failing_reranker_leaves_the_fused_order_and_says_so(
    sqlite_store: SQLiteKnowledgeStore,
    embedder: CachedEmbedder,
    rerank_server: RerankServer,
    behaviour: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reranker = HttpReranker(rerank_server.url, "m", timeout=0.3)
    kb = corpus_kb(sqlite_store, embedder, reranker=reranker)
    rerank_server.behaviour = behaviour
    fused = kb.search(QUERY, k=4, rerank=False)

    with caplog.at_level(logging.WARNING, logger="keel.knowledge"):
        result = kb.search(QUERY, k=4)

    assert result.hits == fused.hits and result.rerank == "skipped"
    assert all(h.citation.rerank_score is None for h in result.hits)
    reason = {
        "503": "HTTP 503",
        "429": "HTTP 429",
        "slow": "within 0.3 s",
        "not-json": "not JSON",
        "bad-index": "document 99",
    }[behaviour]
    assert reason in result.note and "fused order" in result.note
    assert any(reason in r.getMessage() for r in caplog.records)


def test_an_unreachable_reranker_or_one_that_raises_is_skipped(
    sqlite_store: SQLiteKnowledgeStore, embedder: CachedEmbedder
) -> None:
    class Broken:
        name = "broken"

        def rerank(self, query: str, documents: object, top_n: int) -> list[tuple[int, float]]:
            raise RuntimeError("a bug in the reranker")

    kb = corpus_kb(sqlite_store, embedder, reranker=HttpReranker("http://127.0.0.1:9/rerank"))
    assert "unreachable" in kb.search(QUERY, k=2).note
    kb.reranker = Broken()
    result = kb.search(QUERY, k=2)
    assert result.rerank == "skipped" and "a bug in the reranker" in result.note
    assert len(result.hits) == 2


def test_the_floor_applies_before_the_reranker_and_found_nothing_keeps_its_meaning(
    sqlite_store: SQLiteKnowledgeStore, embedder: CachedEmbedder, rerank_server: RerankServer
) -> None:
    kb = corpus_kb(sqlite_store, embedder, reranker=HttpReranker(rerank_server.url))
    nothing = kb.search("quantum chromodynamics of penguins", k=3, min_similarity=0.9)
    assert nothing.found_nothing and nothing.rerank == "off" and rerank_server.requests == []

    floor = 0.3
    above = kb.search(QUERY, k=20, min_similarity=floor, rerank=False).hits
    result = kb.search(QUERY, k=20, min_similarity=floor)
    assert len(rerank_server.requests[0]["documents"]) == len(above)  # only those above
    assert all(h.similarity >= floor for h in result.hits)
    assert {h.text for h in result.hits} == {h.text for h in above}


def test_a_short_answer_keeps_the_unscored_candidates_after_the_scored_ones(
    sqlite_store: SQLiteKnowledgeStore, embedder: CachedEmbedder
) -> None:
    class OnlyTheLast:
        name = "only-the-last"

        def rerank(self, query: str, documents: list[str], top_n: int) -> list[tuple[int, float]]:
            return [(len(documents) - 1, 0.9)]

    kb = corpus_kb(sqlite_store, embedder, reranker=OnlyTheLast(), rerank_candidates=5)
    fused = kb.search(QUERY, k=5, rerank=False).hits
    hits = kb.search(QUERY, k=3).hits
    assert [h.text for h in hits] == [fused[4].text, fused[0].text, fused[1].text]
    assert [h.citation.rerank_score for h in hits] == [0.9, None, None]


def test_text_embeddings_inference_shape(
    sqlite_store: SQLiteKnowledgeStore, embedder: CachedEmbedder, rerank_server: RerankServer
) -> None:
    reranker = HttpReranker(rerank_server.tei_url, api="tei")
    kb = corpus_kb(sqlite_store, embedder, reranker=reranker, rerank_candidates=4)
    fused = kb.search(QUERY, k=4, rerank=False).hits
    result = kb.search(QUERY, k=2)
    assert set(rerank_server.requests[0]) == {"query", "texts", "truncate"}
    assert [h.text for h in result.hits] == [fused[3].text, fused[2].text]
    assert [h.citation.rerank_score for h in result.hits] == [3.0, 2.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ftp://x/rerank",), "http:// or https://"),
        (("http://x/rerank", "m"), "timeout must be positive"),
    ],
)
def test_bad_reranker_settings_are_clear_errors(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        HttpReranker(*args, timeout=0 if len(args) == 2 else 5)
    with pytest.raises(ConfigurationError, match="rerank_candidates"):
        KnowledgeBase(SQLiteKnowledgeStore(SQLiteDatabase(":memory:")), rerank_candidates=0)


def keel(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_kb_search_reranks_with_flags_or_the_apps_reranker(
    rerank_server: RerankServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = "tests.cli_app:app"
    assert keel("kb", "ingest", str(CORPUS / "refunds.md"), "--app", app)[0] == 0
    flags = ["--rerank-url", rerank_server.url, "--rerank-model", "bge-reranker"]
    code, out, _ = keel("kb", "search", QUERY, "--app", app, "--k", "2", "--json", *flags)
    data = json.loads(out)
    assert code == 0 and data["rerank"] == "applied" and data["note"] == ""
    assert data["hits"][0]["rerank_score"] >= data["hits"][1]["rerank_score"]
    assert rerank_server.requests[-1]["model"] == "bge-reranker"

    rerank_server.behaviour = "503"
    code, out, err = keel("kb", "search", QUERY, "--app", app, "--k", "2", *flags)
    assert code == 0 and out.startswith("[1] refunds.md") and "HTTP 503" in err

    module = tmp_path / "reranked_app.py"
    module.write_text(
        "from keel import Agent, App\nfrom keel.knowledge import HttpReranker\n"
        "app = App(agents=[Agent(name='echo', model='test:echo')], "
        f"knowledge_reranker=HttpReranker({rerank_server.url!r}, 'from-app'))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    rerank_server.behaviour = "ok"
    assert keel("kb", "ingest", str(CORPUS / "refunds.md"), "--app", "reranked_app:app")[0] == 0
    code, out, _ = keel("kb", "search", QUERY, "--app", "reranked_app:app", "--json")
    assert code == 0 and json.loads(out)["rerank"] == "applied"
    assert rerank_server.requests[-1]["model"] == "from-app"

    code, _, err = keel("kb", "search", QUERY, "--app", app, "--rerank-model", "m")
    assert code == 2 and "need --rerank-url" in err
