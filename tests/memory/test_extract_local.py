"""The real local model as the extraction model, end to end: its grammar-constrained
answer passes the schema (nothing dropped), the reply is unchanged, and whatever it
saves carries the turn's provenance. One extraction call; the answering model is
scripted. (Whether the 0.5B model finds the facts is a quality question, measured in
BENCHMARKS.md, issue 8 — it often does not.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from keel import Agent, Runner
from keel.memory import ExtractFacts, FactExtraction, InMemorySessionStore, Provenance, UserMemory
from keel.principal import Principal
from keel.storage import SQLiteDatabase
from keel.testing import ScriptedModel
from tests.knowledge.conftest import CachedEmbedder

pytestmark = pytest.mark.local_model


async def test_the_local_model_answers_the_extraction_schema(tmp_path: Path) -> None:
    ann = Principal("ann", "acme")
    memory = UserMemory(SQLiteDatabase(tmp_path / "app.db"), CachedEmbedder())
    config = FactExtraction(model="local:qwen2.5-coder-0.5b", background=False, timeout_s=600)
    extractor = ExtractFacts(memory, config)
    agent = Agent(name="desk", model=ScriptedModel(["Noted."]), middleware=[extractor])
    runner = Runner(session_store=InMemorySessionStore())
    text = "I'm a vet in Porto, I own a Halo speaker, and please text me rather than call."
    result = await runner.run(agent, text, session_id="s1", principal=ann)
    assert result.output == "Noted." and extractor.dropped == 0
    for fact in memory.facts(ann):
        assert fact.source == Provenance("s1", result.run_id, 0) and fact.text.strip()
