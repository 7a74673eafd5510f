"""A guardrail looks at one piece of text and answers allow, modify (with the new text)
or block (with a reason). `check_all` runs a set of them with their latency budgets and
fail policies and says what happened, guardrail by guardrail.

A guardrail whose work is CPU-bound and slow (a classifier) sets `threaded = True`: it
then runs in a worker thread, so its latency budget can be enforced and the event loop
(and a model call beside it) keeps going.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from keel.context import RunContext
from keel.exceptions import RunBlocked

__all__ = [
    "Action",
    "CheckReport",
    "FailPolicy",
    "Guardrail",
    "GuardrailBlocked",
    "GuardrailResult",
    "Stage",
    "Verdict",
    "check_all",
]

Action = Literal["allow", "modify", "block"]
Stage = Literal["input", "output", "stream", "tool_call", "tool_result"]
FailPolicy = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    score: float = 0.0
    """How sure the guardrail is that something is wrong, 0 to 1."""
    reason: str = ""
    """Why, for operators: never quotes the offending text."""
    text: str | None = None
    """The replacement text, for `modify`."""

    @classmethod
    def allow(cls, score: float = 0.0) -> Verdict:
        return cls("allow", score)

    @classmethod
    def modify(cls, text: str, reason: str, score: float = 1.0) -> Verdict:
        return cls("modify", score, reason, text)

    @classmethod
    def block(cls, reason: str, score: float = 1.0) -> Verdict:
        return cls("block", score, reason)


class Guardrail:
    """Base class: override `inspect` (sync, fast) or `check` (async)."""

    name: str = ""
    budget_s: float | None = None
    """Latency budget; past it the fail policy decides. None: no budget."""
    fail: FailPolicy = "closed"
    """On an error or a blown budget: `closed` blocks, `open` allows."""
    threaded: bool = False
    stages: frozenset[Stage] = frozenset({"input"})

    def __init_subclass__(cls) -> None:
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    def inspect(self, text: str) -> Verdict:
        raise NotImplementedError(f"{type(self).__name__} overrides neither inspect nor check")

    async def check(self, text: str, ctx: RunContext | None = None) -> Verdict:
        if self.threaded:
            return await asyncio.to_thread(self.inspect, text)
        return self.inspect(text)


@dataclass(frozen=True, slots=True)
class GuardrailResult:
    guardrail: str
    verdict: Verdict
    latency_s: float
    error: str | None = None
    """Set when the guardrail failed or ran out of time; the verdict is its fail policy."""


@dataclass(slots=True)
class CheckReport:
    text: str
    """The text after every `modify`."""
    results: list[GuardrailResult] = field(default_factory=list[GuardrailResult])

    @property
    def action(self) -> Action:
        actions = {r.verdict.action for r in self.results}
        return "block" if "block" in actions else "modify" if "modify" in actions else "allow"

    @property
    def blocked_by(self) -> GuardrailResult | None:
        return next((r for r in self.results if r.verdict.action == "block"), None)


class GuardrailBlocked(RunBlocked):
    """Raised in raise-mode when a guardrail blocks; `reply` is the polite answer."""

    def __init__(self, message: str, *, reply: str, guardrail: str, stage: Stage) -> None:
        super().__init__(message, reply=reply)
        self.guardrail = guardrail
        self.stage = stage


async def run_one(guardrail: Guardrail, text: str, ctx: RunContext | None) -> GuardrailResult:
    """One guardrail within its budget; an error or a timeout becomes its fail verdict."""
    started = time.perf_counter()
    try:
        if guardrail.budget_s is None:
            verdict = await guardrail.check(text, ctx)
        else:
            verdict = await asyncio.wait_for(guardrail.check(text, ctx), guardrail.budget_s)
    except Exception as exc:  # a broken guardrail must not break the run: its policy decides
        error = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        fallback = Verdict("block" if guardrail.fail == "closed" else "allow", 0.0, error)
        return GuardrailResult(guardrail.name, fallback, time.perf_counter() - started, error)
    return GuardrailResult(guardrail.name, verdict, time.perf_counter() - started)


async def check_all(
    guardrails: Sequence[Guardrail], text: str, ctx: RunContext | None = None
) -> CheckReport:
    """Run `guardrails` in order on `text`; each sees the text as the previous left it.
    Stops at the first block."""
    report = CheckReport(text)
    for guardrail in guardrails:
        result = await run_one(guardrail, report.text, ctx)
        report.results.append(result)
        if result.verdict.action == "modify" and result.verdict.text is not None:
            report.text = result.verdict.text
        elif result.verdict.action == "block":
            break
    return report


async def check_concurrently(
    guardrails: Sequence[Guardrail], text: str, ctx: RunContext | None = None
) -> CheckReport:
    """Run `guardrails` side by side (block or allow only: modifications are ignored)."""
    results = await asyncio.gather(*(run_one(g, text, ctx) for g in guardrails))
    return CheckReport(text, list(results))
