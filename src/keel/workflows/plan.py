"""An explicit plan: steps naming tools and arguments, each with an optional compensating
step; validated against the tools before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from keel.exceptions import KeelError, ToolArgumentsError
from keel.tools.base import Tool

__all__ = ["Compensation", "Plan", "PlanError", "PlanStep", "validate_plan"]


class PlanError(KeelError):
    """A plan that cannot run (names every bad step), or a request the plan's state refuses."""


class Compensation(BaseModel):
    """The step that undoes a completed step if a later one fails."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class PlanStep(BaseModel):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    compensate: Compensation | None = None


class Plan(BaseModel):
    """What an agent proposes (use it as an `output_type`) and a person confirms."""

    goal: str = ""
    steps: list[PlanStep] = Field(min_length=1)


def validate_plan(plan: Plan, tools: Mapping[str, Tool]) -> None:
    """PlanError listing every unknown tool and invalid argument, by step number."""
    problems: list[str] = []
    for number, step in enumerate(plan.steps, 1):
        problems += _check(f"step {number}", step.tool, step.arguments, tools)
        if step.compensate is not None:
            where = f"step {number} compensation"
            problems += _check(where, step.compensate.tool, step.compensate.arguments, tools)
    if problems:
        raise PlanError("the plan cannot run: " + "; ".join(problems))


def _check(
    where: str, name: str, arguments: dict[str, Any], tools: Mapping[str, Tool]
) -> list[str]:
    tool = tools.get(name)
    if tool is None:
        return [f"{where}: unknown tool {name!r} (tools: {', '.join(sorted(tools))})"]
    try:
        tool.validate(arguments)
    except ToolArgumentsError as exc:
        return [f"{where}: {exc}"]
    return []
