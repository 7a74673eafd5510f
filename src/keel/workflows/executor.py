"""`PlanExecutor`: propose → confirm → execute step by step, with a checkpoint after each.

A proposed plan is validated against the tools, then waits for confirmation (a person, the
user, or a `confirm_policy` — the plan's suspension). Executing it runs each step through
its tool with a stable idempotency key (`plan id/step n`), writing the plan's state
before and after every step: a process killed mid-plan is resumed (`execute` again, from
any process) at the step it stopped in — finished steps never run again; an interrupted
step runs again only if its tool is idempotent or read-only, otherwise the plan needs a
person. A step that fails stops the plan with a report and runs the compensations of the
completed steps, in reverse order, each checkpointed too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic_core import to_json

from keel.context import RunContext
from keel.principal import ANONYMOUS, Principal
from keel.tools.base import Tool
from keel.workflows.plan import Plan, PlanError, validate_plan
from keel.workflows.store import PlanRecord, PlanStore, StepRecord

if TYPE_CHECKING:
    from keel.workflows.tool import PlanTool

__all__ = ["PlanExecutor"]

ConfirmPolicy = Callable[[Plan], bool]


class PlanExecutor:
    def __init__(
        self,
        tools: Sequence[Tool],
        store: PlanStore,
        *,
        confirm_policy: ConfirmPolicy | None = None,
        deps: Any = None,
    ) -> None:
        self.tools = {t.name: t for t in tools}
        self.store = store
        self.confirm_policy = confirm_policy
        self.deps = deps

    def propose(self, plan: Plan, *, principal: Principal = ANONYMOUS) -> PlanRecord:
        """Validate and store the plan; it waits for confirmation unless the policy gives it."""
        validate_plan(plan, self.tools)
        record = PlanRecord(
            id="p" + os.urandom(8).hex(),
            plan=plan,
            principal=principal,
            steps=[StepRecord() for _ in plan.steps],
        )
        if self.confirm_policy is not None and self.confirm_policy(plan):
            record.status, record.confirmed_by = "confirmed", "policy"
        self.store.create(record)
        return record

    def confirm(self, plan_id: str, by: str, *, tenant_id: str = "default") -> PlanRecord:
        return self._decide(plan_id, by, tenant_id, confirmed=True)

    def reject(self, plan_id: str, by: str, *, tenant_id: str = "default") -> PlanRecord:
        return self._decide(plan_id, by, tenant_id, confirmed=False)

    def as_tool(self, name: str = "run_plan") -> PlanTool:
        """The tool an agent proposes a plan with: a call waits for confirmation as the
        run's pending action (`keel runs approve|reject RUN`), then executes the plan."""
        from keel.workflows.tool import PlanTool

        return PlanTool(self, name)

    def _decide(self, plan_id: str, by: str, tenant_id: str, *, confirmed: bool) -> PlanRecord:
        record = self.store.load(plan_id, tenant_id=tenant_id)
        if record.run_id is not None:
            verb = "approve" if confirmed else "reject"
            raise PlanError(
                f"plan {plan_id!r} waits on run {record.run_id!r}: decide it with "
                f"`keel runs {verb} {record.run_id}`"
            )
        return self.decide(record, by, confirmed=confirmed)

    def decide(self, record: PlanRecord, by: str, *, confirmed: bool) -> PlanRecord:
        """Confirm or reject a waiting plan; of two racing decisions exactly one counts."""
        plan_id, tenant_id = record.id, record.principal.tenant_id
        record.status = "confirmed" if confirmed else "rejected"
        record.confirmed_by = by
        if not self.store.transition(record, ("awaiting_confirmation",)):
            now = self.store.load(plan_id, tenant_id=tenant_id)
            raise PlanError(f"plan {plan_id!r} is {now.status}; it was already decided")
        return record

    async def execute(self, plan_id: str, *, tenant_id: str = "default") -> PlanRecord:
        """Run (or resume) a confirmed plan to its end; returns its final record."""
        record = self.store.claim(plan_id, tenant_id=tenant_id)
        if record.status == "compensating":
            return await self._compensate(record)
        record.status = "running"
        self.store.save(record)
        for index in range(record.next_step, len(record.plan.steps)):
            outcome = await self._run_step(record, index)
            if outcome == "attention":
                return record
            if outcome == "failed":
                return await self._compensate(record)
        record.status = "completed"
        record.report = f"all {len(record.steps)} steps completed"
        self.store.save(record)
        return record

    async def _run_step(
        self, record: PlanRecord, index: int
    ) -> Literal["done", "failed", "attention"]:
        step, state = record.plan.steps[index], record.steps[index]
        tool = self.tools[step.tool]
        if state.status == "started" and not tool.annotations.retryable:
            record.status = "needs_attention"
            record.error = (
                f"step {index + 1} ({step.tool}) started but did not finish, and the tool is "
                "not idempotent: check whether it happened before going on"
            )
            self.store.save(record)
            return "attention"
        state.status, state.attempts = "started", state.attempts + 1
        self.store.save(record)  # before the effect: a crash from here on is visible
        outcome = await self._invoke(record, tool, step.arguments, f"step{index + 1}")
        state.status = "failed" if isinstance(outcome, Exception) else "finished"
        if isinstance(outcome, Exception):
            state.error = f"{type(outcome).__name__}: {outcome}"
            record.failed_step = index
            return "failed"
        state.result, record.next_step = outcome, index + 1
        self.store.save(record)
        return "done"

    async def _invoke(
        self, record: PlanRecord, tool: Tool, arguments: dict[str, Any], key: str
    ) -> str | Exception:
        ctx = RunContext(
            run_id=record.id,
            agent_name="plan",
            deps=self.deps,
            principal=record.principal,
            tool_call_id=key,
        )
        try:
            value = await tool.invoke(tool.validate(arguments), ctx)
        except Exception as exc:  # a step's failure stops the plan; it is not a crash
            return exc
        return value if isinstance(value, str) else to_json(value, fallback=str).decode()

    async def _compensate(self, record: PlanRecord) -> PlanRecord:
        record.status = "compensating"
        self.store.save(record)
        failed = record.failed_step if record.failed_step is not None else record.next_step
        for index in reversed(range(failed)):
            compensation = record.plan.steps[index].compensate
            done = record.compensations.get(index)
            if compensation is None or (done is not None and done.status == "finished"):
                continue
            state = record.compensations.setdefault(index, StepRecord())
            state.status, state.attempts = "started", state.attempts + 1
            self.store.save(record)
            tool = self.tools[compensation.tool]
            outcome = await self._invoke(record, tool, compensation.arguments, f"undo{index + 1}")
            failed_now = isinstance(outcome, Exception)
            state.status = "failed" if failed_now else "finished"
            state.error, state.result = (str(outcome), None) if failed_now else (None, str(outcome))
            self.store.save(record)
        return self._fail(record, failed)

    def _fail(self, record: PlanRecord, failed: int) -> PlanRecord:
        step = record.plan.steps[failed]
        lines = [f"step {failed + 1} ({step.tool}) failed: {record.steps[failed].error}"]
        for index in sorted(record.compensations, reverse=True):
            done = record.compensations[index]
            lines.append(f"undid step {index + 1}: {done.status} ({done.result or done.error})")
        record.status, record.report = "failed", "; ".join(lines)
        self.store.save(record)
        return record
