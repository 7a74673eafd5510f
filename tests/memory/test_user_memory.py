"""User memory: provenance, supersession with history, TTL on a manual clock, recall by
similarity and recency within a budget, tenant and user scoping, and the agent's seams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keel import Agent, Runner
from keel.exceptions import ConfigurationError
from keel.memory import InMemorySessionStore
from keel.memory.postgres import PostgresUserMemory
from keel.memory.user import FactMemory, Provenance, UserMemory
from keel.memory.user_tools import MEMORY_HEADER, RecallMemory, remember_tool
from keel.models.base import ModelRequest
from keel.principal import Principal
from keel.storage import SQLiteDatabase
from keel.testing import FunctionModel, ScriptedModel, tool_call
from tests.knowledge.conftest import CachedEmbedder
from tests.pg import pg_database, schema_url

__all__ = ["pg_database"]

ANN = Principal("ann", "acme")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def embedder() -> CachedEmbedder:
    return CachedEmbedder()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def memory(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: CachedEmbedder, clock: Clock
) -> Iterator[FactMemory]:
    """Every test runs on both backends: the app's SQLite file and PostgreSQL."""
    if request.param == "sqlite":
        yield UserMemory(SQLiteDatabase(tmp_path / "app.db"), embedder, clock=clock)
        return
    url = schema_url(request.getfixturevalue("pg_database"), str(tmp_path))
    postgres = PostgresUserMemory(url, embedder, clock=clock)
    yield postgres
    postgres.close()


def test_a_newer_fact_with_the_same_key_supersedes_and_keeps_history(
    memory: FactMemory, clock: Clock
) -> None:
    first = memory.remember(ANN, "Lives in Lyon", key="city", source=Provenance("s1", "r1", 3))
    clock.now += 60
    second = memory.remember(ANN, "Moved to Berlin", key="city")
    assert [f.text for f in memory.facts(ANN)] == ["Moved to Berlin"]
    history = memory.facts(ANN, include_history=True)
    assert [(f.text, f.superseded_by) for f in history] == [
        ("Lives in Lyon", second.id),
        ("Moved to Berlin", None),
    ]
    assert history[0].source == Provenance("s1", "r1", 3) and history[0].id == first.id
    assert history[0].superseded_at == clock.now


def test_a_near_identical_fact_without_a_key_supersedes_too(memory: FactMemory) -> None:
    memory.remember(ANN, "Prefers to be contacted by email.", kind="preference")
    memory.remember(ANN, "Prefers to be contacted by e-mail.", kind="preference")
    memory.remember(ANN, "Has a dog called Rex.")
    assert [f.text for f in memory.facts(ANN)] == [
        "Prefers to be contacted by e-mail.",
        "Has a dog called Rex.",
    ]


def test_facts_expire_after_their_ttl(memory: FactMemory, clock: Clock) -> None:
    memory.remember(ANN, "Is travelling this week", ttl_s=7 * 86_400)
    memory.remember(ANN, "Speaks French")
    clock.now += 6 * 86_400
    assert len(memory.facts(ANN)) == 2
    clock.now += 2 * 86_400
    assert [f.text for f in memory.facts(ANN)] == ["Speaks French"]
    assert memory.recall(ANN, "travel plans") == [memory.facts(ANN)[0]]
    assert memory.purge_expired() == 1


def test_recall_ranks_by_similarity_and_recency_within_a_budget(
    memory: FactMemory, clock: Clock
) -> None:
    memory.remember(ANN, "Owns a Halo speaker bought in 2025")
    clock.now += 90 * 86_400
    memory.remember(ANN, "Prefers refunds as store credit")
    memory.remember(ANN, "Allergic to peanuts")
    found = memory.recall(ANN, "my speaker will not pair", budget_tokens=200)
    assert found[0].text == "Owns a Halo speaker bought in 2025"
    tight = memory.recall(ANN, "my speaker will not pair", budget_tokens=14)
    assert [f.text for f in tight] == ["Owns a Halo speaker bought in 2025"]
    assert memory.recall(ANN, "   ") == []


def test_tenants_and_users_never_see_each_others_facts(memory: FactMemory) -> None:
    memory.remember(ANN, "The secret word is marmalade")
    for other in (Principal("ann", "globex"), Principal("bob", "acme")):
        assert memory.facts(other) == []
        assert memory.recall(other, "secret word marmalade") == []


def test_bad_input_names_the_problem(memory: FactMemory) -> None:
    with pytest.raises(ConfigurationError, match="user_id"):
        memory.remember(Principal(), "anything")
    with pytest.raises(ConfigurationError, match="needs text"):
        memory.remember(ANN, "  ")
    with pytest.raises(ConfigurationError, match="ttl_s"):
        memory.remember(ANN, "x", ttl_s=0)


async def test_the_agent_saves_with_a_tool_and_later_runs_recall(memory: FactMemory) -> None:
    save = ScriptedModel(
        [tool_call("remember", {"fact": "Prefers phone calls", "key": "channel"}), "Noted."]
    )
    agent = Agent(name="a", model=save, tools=[remember_tool(memory)])
    runner = Runner(session_store=InMemorySessionStore())
    result = await runner.run(agent, "Call me, don't email.", principal=ANN, session_id="s1")
    (fact,) = memory.facts(ANN)
    assert (fact.text, fact.key) == ("Prefers phone calls", "channel")
    assert fact.source == Provenance("s1", result.run_id, None)

    seen: list[ModelRequest] = []

    def answer(request: ModelRequest) -> str:
        seen.append(request)
        return "ok"

    later = Agent(name="a", instructions="Be kind.", model=FunctionModel(answer),
                  middleware=[RecallMemory(memory)])  # fmt: skip
    await Runner().run(later, "how will you contact me?", principal=ANN)
    system = seen[0].messages[0].text
    assert system.startswith("Be kind.") and f"{MEMORY_HEADER}\n- Prefers phone calls" in system
    await Runner().run(later, "how will you contact me?", principal=Principal("bob", "acme"))
    assert MEMORY_HEADER not in seen[1].messages[0].text
