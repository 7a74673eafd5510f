"""The strong offline tier, `local:qwen2.5-coder-1.5b`: assembled from its 22 part
packages, verified by sha256, loaded, and deterministic on structured requests."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

from keel import Agent, Runner
from keel.models.local import LocalModel, catalog

pytestmark = pytest.mark.local_model
pytest.importorskip("xllamacpp", reason="the local model needs the 'local' extra")


class Triage(BaseModel):
    category: Literal["billing", "shipping", "technical", "other"]
    urgent: bool


def test_the_catalog_lists_the_strong_model_truthfully() -> None:
    [entry] = [e for e in catalog() if e.alias == "qwen2.5-coder-1.5b"]
    assert "Coder-1.5B" in entry.description
    assert entry.status in ("ready", "first use")


async def test_the_same_structured_question_gets_the_same_answer() -> None:
    model = LocalModel.from_name("qwen2.5-coder-1.5b")
    model.prepare()  # assembles and verifies the 1.1 GB file on first use
    agent = Agent(name="triage", model=model, output_type=Triage)
    question = "My parcel has not arrived after three weeks and I need it for a wedding tomorrow!"
    answers = [(await Runner().run(agent, question)).output for _ in range(2)]
    assert answers[0] == answers[1]
    assert isinstance(answers[0], Triage)
