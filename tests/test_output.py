"""Structured output: schemas from types, validation, repair requests, then a typed error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest
from pydantic import BaseModel

from keel import Agent, OutputValidationError, RunLimits, Runner
from keel.testing import ScriptedModel


class Ticket(BaseModel):
    title: str
    priority: Literal["low", "high"]


@dataclass
class Point:
    x: int
    y: int


async def test_pydantic_output_is_validated_and_schema_is_sent() -> None:
    model = ScriptedModel(['{"title": "printer on fire", "priority": "high"}'])
    result = await Runner().run(Agent(name="t", model=model, output_type=Ticket), "x")
    assert result.output == Ticket(title="printer on fire", priority="high")
    schema = model.requests[0].output_schema
    assert schema is not None and schema.schema["required"] == ["title", "priority"]


async def test_dataclass_output() -> None:
    model = ScriptedModel(['{"x": 1, "y": 2}'])
    result = await Runner().run(Agent(name="t", model=model, output_type=Point), "x")
    assert result.output == Point(1, 2)


@pytest.mark.parametrize(
    ("output_type", "text", "expected"),
    [
        (int, '{"result": 7}', 7),
        (list[str], '{"result": ["a", "b"]}', ["a", "b"]),
        (bool, '{"result": true}', True),
    ],
)
async def test_non_object_types_are_wrapped_in_an_object(
    output_type: type, text: str, expected: object
) -> None:
    model = ScriptedModel([text])
    result = await Runner().run(Agent(name="t", model=model, output_type=output_type), "x")
    assert result.output == expected
    schema = model.requests[0].output_schema
    assert schema is not None and schema.schema["type"] == "object"


async def test_code_fenced_json_is_accepted() -> None:
    model = ScriptedModel(['```json\n{"x": 3, "y": 4}\n```'])
    result = await Runner().run(Agent(name="t", model=model, output_type=Point), "x")
    assert result.output == Point(3, 4)


async def test_malformed_output_is_repaired_with_the_validation_error() -> None:
    model = ScriptedModel(
        ['{"title": "x", "priority": "urgent"}', '{"title": "x", "priority": "high"}']
    )
    result = await Runner().run(Agent(name="t", model=model, output_type=Ticket), "x")
    assert result.output.priority == "high"
    repair = model.requests[1].messages[-1]
    assert repair.role == "user" and "priority" in repair.text and "'low' or 'high'" in repair.text


async def test_garbage_after_all_repairs_raises_typed_error_with_raw_output() -> None:
    model = ScriptedModel(["not json", "still not", "nope"])
    agent = Agent(name="t", model=model, output_type=Ticket, limits=RunLimits(max_output_retries=2))
    with pytest.raises(OutputValidationError, match="after 2 repair") as info:
        await Runner().run(agent, "x")
    assert info.value.raw_output == "nope"
    assert len(model.requests) == 3


async def test_zero_retries_fails_on_first_bad_output() -> None:
    model = ScriptedModel(["{}"])
    agent = Agent(name="t", model=model, output_type=Point, limits=RunLimits(max_output_retries=0))
    with pytest.raises(OutputValidationError):
        await Runner().run(agent, "x")
