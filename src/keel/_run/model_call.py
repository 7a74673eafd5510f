"""The model call of one step: through the middleware chain, or suspended before it.

A middleware that suspends a model call (`call.require_approval`) stops the run before
the model is asked; the step is taken again on resume, approved — or, rejected, the run
ends with the person's reply (`RunBlocked`).
"""

from __future__ import annotations

from keel._run.active import ActiveRun
from keel.exceptions import RunBlocked
from keel.messages import ModelResponse
from keel.middleware import ModelCall, SuspendRun
from keel.runs.pending import PendingAction, Reject

__all__ = ["call_model", "model_call_approved", "model_pending_id", "suspend_model_call"]


def model_pending_id(step: int) -> str:
    return f"s{step}m"


def model_call_approved(run: ActiveRun) -> bool:
    if not run.state.decisions:  # the common case: nobody was asked anything
        return False
    record = run.state.decision_for(model_pending_id(run.state.step + 1))
    if record is None:
        return False
    if isinstance(record.decision, Reject):
        raise RunBlocked(
            f"a person rejected the model call of run {run.state.run_id!r}",
            reply=record.decision.reason or "This request was declined.",
        )
    return True


async def call_model(run: ActiveRun, call: ModelCall) -> ModelResponse | None:
    try:
        return await run.pipeline.model(call)
    except SuspendRun as suspension:
        await suspend_model_call(run, suspension)
        return None


async def suspend_model_call(run: ActiveRun, suspension: SuspendRun) -> None:
    """The model call did not happen: its step is taken again once a person decides."""
    state = run.state
    state.step -= 1
    run.context.step = state.step
    pending = PendingAction(
        model_pending_id(state.step + 1),
        "model_call",
        suspension.reason,
        requested_by=suspension.middleware,
    )
    state.pending = [pending]
    state.status = "suspended"
    await run.checkpoints.keep(state)
