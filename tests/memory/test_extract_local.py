"""The real local model as the extraction model: a later turn that contradicts a known
fact supersedes it (the model reuses the known fact's key). One extraction call; the
answering model is scripted."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel import Agent, Runner
from keel.memory import ExtractFacts, FactExtraction, InMemorySessionStore, UserMemory
from keel.principal import Principal
from keel.storage import SQLiteDatabase
from keel.testing import ScriptedModel
from tests.knowledge.conftest import CachedEmbedder

pytestmark = pytest.mark.local_model


async def test_the_local_model_supersedes_a_moved_users_city(tmp_path: Path) -> None:
    ann = Principal("ann", "acme")
    memory = UserMemory(SQLiteDatabase(tmp_path / "app.db"), CachedEmbedder())
    memory.remember(ann, "Lives in Lyon", key="city")
    config = FactExtraction(model="local:qwen2.5-coder-0.5b", background=False, timeout_s=300)
    agent = Agent(name="desk", model=ScriptedModel(["Welcome to Berlin!"]),
                  middleware=[ExtractFacts(memory, config)])  # fmt: skip
    runner = Runner(session_store=InMemorySessionStore())
    result = await runner.run(agent, "I just moved to Berlin.", session_id="s1", principal=ann)
    assert result.output == "Welcome to Berlin!"
    (city,) = [f for f in memory.facts(ann) if f.key == "city"]
    assert "Berlin" in city.text and city.source.run_id == result.run_id
    (lyon,) = [f for f in memory.facts(ann, include_history=True) if "Lyon" in f.text]
    assert lyon.superseded_by == city.id
