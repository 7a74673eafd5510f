"""`PlanTool`: an agent proposes a plan; the run waits on its confirmation like on any
approval; once confirmed, the plan executes with its checkpoints.

The confirmation is the run's pending action, so it is decided through the run pipeline
from any process: `keel runs approve RUN` confirms the plan (the tool runs again, approved,
and executes it), `keel runs reject RUN --reason …` rejects it (the loop tells the tool,
`on_rejected`, then the model reads the reason). A `confirm_policy` confirms without a
person. The plan's id derives from the call's idempotency key, so the call re-run after a
resume, or after a crash, finds the plan its first attempt stored and continues it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from keel.middleware import SuspendRun
from keel.models.base import ToolDefinition
from keel.tools.base import ToolAnnotations, arguments_error
from keel.workflows.plan import Plan, PlanError, validate_plan
from keel.workflows.store import PlanRecord, StepRecord

if TYPE_CHECKING:
    from keel.context import RunContext
    from keel.runs.pending import DecisionRecord
    from keel.workflows.executor import PlanExecutor

__all__ = ["PlanTool"]

_FINAL = ("rejected", "completed", "failed", "needs_attention")


@dataclass(frozen=True, eq=False)
class PlanTool:
    """Built by `PlanExecutor.as_tool()`; the arguments are a `Plan`."""

    executor: PlanExecutor
    name: str = "run_plan"
    description: str = (
        "Propose an explicit plan: ordered steps, each naming a tool and its arguments, "
        "with an optional compensating step that undoes it. Nothing runs until the plan "
        "is confirmed; then every step runs in order, and a failed step undoes the "
        "completed ones in reverse."
    )
    annotations: ToolAnnotations = field(default_factory=lambda: ToolAnnotations(idempotent=True))
    """Idempotent: calling again with the same key continues the same plan."""

    @property
    def parameters(self) -> dict[str, Any]:
        return Plan.model_json_schema()

    @property
    def definition(self) -> ToolDefinition:
        return ToolDefinition(self.name, self.description, self.parameters)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """A well-formed plan naming only the executor's tools with valid arguments."""
        try:
            plan = Plan.model_validate(arguments)
            validate_plan(plan, self.executor.tools)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}" for e in exc.errors()
            ]
            raise arguments_error(self.name, problems) from None
        except PlanError as exc:
            raise arguments_error(self.name, [str(exc)]) from None
        return plan.model_dump()

    async def invoke(self, arguments: dict[str, Any], ctx: RunContext) -> Any:
        record = self._record(arguments, ctx)
        if record.status == "awaiting_confirmation":
            record = self._confirm(record, ctx)
        if record.status not in _FINAL:
            record = await self.executor.execute(record.id, tenant_id=record.principal.tenant_id)
        return _summary(record)

    async def on_rejected(
        self, arguments: dict[str, Any], ctx: RunContext, decision: DecisionRecord
    ) -> None:
        """A person rejected the call: the plan is rejected too (once)."""
        record = self._record(arguments, ctx)
        if record.status == "awaiting_confirmation":
            self.executor.decide(record, _name(decision.decided_by.user_id), confirmed=False)

    def _record(self, arguments: dict[str, Any], ctx: RunContext) -> PlanRecord:
        plan = Plan.model_validate(arguments)
        key = f"{ctx.idempotency_key or ctx.run_id}/{self.name}"
        return self.executor.store.ensure(
            PlanRecord(
                id="p" + hashlib.sha256(key.encode()).hexdigest()[:16],
                plan=plan,
                principal=ctx.principal,
                steps=[StepRecord() for _ in plan.steps],
                run_id=ctx.run_id,
            )
        )

    def _confirm(self, record: PlanRecord, ctx: RunContext) -> PlanRecord:
        policy = self.executor.confirm_policy
        if ctx.approved:
            by = _name(None if ctx.approved_by is None else ctx.approved_by.user_id)
        elif policy is not None and policy(record.plan):
            by = "policy"
        else:
            steps = ", ".join(s.tool for s in record.plan.steps)
            raise SuspendRun(
                f"plan {record.id} ({len(record.plan.steps)} steps: {steps}) waits for "
                "confirmation",
                self.name,
            )
        try:
            return self.executor.decide(record, by, confirmed=True)
        except PlanError:  # decided meanwhile (a racing resume): go on with what is stored
            return self.executor.store.load(record.id, tenant_id=record.principal.tenant_id)


def _name(user_id: str | None) -> str:
    return user_id or "a person"


def _summary(record: PlanRecord) -> dict[str, Any]:
    return {
        "plan_id": record.id,
        "status": record.status,
        "confirmed_by": record.confirmed_by,
        "report": record.report or record.error,
        "results": [s.result for s in record.steps if s.status == "finished"],
    }
