"""Plans (explicit steps, validated, confirmed, executed with checkpoints, compensated)
and stateless runs."""

from keel.workflows.executor import PlanExecutor
from keel.workflows.plan import Compensation, Plan, PlanError, PlanStep, validate_plan
from keel.workflows.stateless import run_stateless
from keel.workflows.store import PlanRecord, PlanStore
from keel.workflows.tool import PlanTool

__all__ = [
    "Compensation",
    "Plan",
    "PlanError",
    "PlanExecutor",
    "PlanRecord",
    "PlanStep",
    "PlanStore",
    "PlanTool",
    "run_stateless",
    "validate_plan",
]
