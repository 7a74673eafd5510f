"""Bad input gets a 4xx problem document naming what is wrong — never a 5xx."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.server.conftest import Served


def _problem(response: object) -> dict[str, object]:
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    return response.json()  # type: ignore[attr-defined]


def test_a_missing_key_is_401_and_a_wrong_key_too(served: Served) -> None:
    with served.client(key=None) as client:
        missing = client.get("/sessions")
    with served.client(key="sk-wrong") as client:
        wrong = client.get("/sessions")
    assert missing.status_code == wrong.status_code == 401
    assert "API key" in str(_problem(missing)["detail"])
    assert missing.headers["www-authenticate"].startswith("Bearer")


def test_malformed_json_is_400(served: Served) -> None:
    with served.client() as client:
        response = client.post(
            "/sessions/s/messages",
            content=b'{"input": "x"',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400
    assert "not valid JSON" in str(_problem(response)["detail"])


def test_a_body_that_is_not_json_is_415(served: Served) -> None:
    with served.client() as client:
        response = client.post(
            "/sessions/s/messages", content=b"input=x", headers={"Content-Type": "text/plain"}
        )
    assert response.status_code == 415
    assert "application/json" in str(_problem(response)["detail"])


def test_a_missing_field_is_422_naming_it(served: Served) -> None:
    with served.client() as client:
        response = client.post("/sessions/s/messages", json={"inptu": "x"})
    assert response.status_code == 422
    fields = [e["field"] for e in _problem(response)["errors"]]  # type: ignore[union-attr]
    assert "body.input" in fields


def test_an_oversized_body_is_413_and_stores_nothing(served: Served) -> None:
    with served.client() as client:
        response = client.post("/sessions/big/messages", json={"input": "x" * 100_000})
        assert response.status_code == 413
        assert "larger than" in str(_problem(response)["detail"])
        assert client.get("/sessions/big/messages").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/runs/nope", None),
        ("get", "/sessions/nope/messages", None),
        ("post", "/sessions/s/messages", {"input": "hi", "agent": "nobody"}),
        ("post", "/runs/nope/approve", {}),
        ("delete", "/sessions/nope", None),
    ],
)
def test_unknown_things_are_404(served: Served, method: str, path: str, body: object) -> None:
    with served.client() as client:
        response = client.request(method, path, json=body)
    assert response.status_code == 404
    assert _problem(response)["detail"]


def test_an_invalid_session_id_is_422(served: Served) -> None:
    with served.client() as client:
        response = client.post("/sessions/bad%20id/messages", json={"input": "hi"})
    assert response.status_code == 422


def test_an_unknown_route_is_a_404_problem(served: Served) -> None:
    with served.client() as client:
        response = client.get("/nothing-here")
    assert response.status_code == 404
    assert _problem(response)["status"] == 404


@pytest.mark.parametrize(
    ("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_docs_are_served_offline(served: Served, page: str, script: str) -> None:
    with served.client(key=None) as client:
        html = client.get(page).text
        links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
        assets = {link: client.get(link) for link in links}
        spec = client.get("/openapi.json").json()
    assert f"/docs/assets/{script}" in links
    assert all(link.startswith("/docs/assets/") for link in links), links  # nothing remote
    assert "googleapis" not in html and "cdn" not in html.lower()
    assert all(r.status_code == 200 and r.content for r in assets.values())
    assert "javascript" in assets[f"/docs/assets/{script}"].headers["content-type"]
    assert "/v1/chat/completions" in spec["paths"]


def test_a_chunked_body_past_the_limit_is_413_too(served: Served) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"input": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    with served.client() as client:
        response = client.post(
            "/sessions/chunked/messages",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert "larger than" in str(_problem(response)["detail"])
        assert client.get("/sessions/chunked/messages").status_code == 404
