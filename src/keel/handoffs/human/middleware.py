"""`HumanHandoff`: the middleware that hands a conversation to a person.

Put it on the App (`App(middleware=[HumanHandoff(...)])`) so it wraps every agent a run
may reach. A trigger (`keel.handoffs.human.triggers`) found on the input, after a tool
call, or in a structured answer marks the run; at its next model call — inside the
run's trace — the escalation is written to the `HumanQueue` with the full transcript, a
written summary, the reason and the trace id, and the customer is told a person will
reply instead of the model answering. While the session's item is active, what the
customer writes goes to the queue; the agents answer again once a person hands back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from keel.context import RunContext
from keel.exceptions import SessionNotFoundError
from keel.handoffs.human.store import HandoffItem, HumanQueue, new_handoff_id
from keel.handoffs.human.summary import summarize, transcript_of
from keel.handoffs.human.triggers import EscalationPolicy, Trigger, check_text, model_uncertain
from keel.messages import Message, ModelResponse, ToolResultPart, Usage
from keel.middleware import Middleware, ModelCall, ModelHandler, Respond, ToolCall, ToolHandler
from keel.storage.sqlite import SQLiteDatabase

if TYPE_CHECKING:
    from keel.routing.router import SemanticRouter

__all__ = ["ESCALATE_KEY", "HANDED_OFF_KEY", "RETRIEVAL_SCORE_KEY", "HumanHandoff"]

ESCALATE_KEY = "keel.escalate"
"""Run metadata: a trigger fired; the next model call escalates instead."""
HANDED_OFF_KEY = "keel.human_handoff"
"""Run metadata: the id of the queue item this run opened."""
RETRIEVAL_SCORE_KEY = "keel.retrieval.best_score"
"""Run metadata a retrieval tool sets: its best similarity (the retrieval-floor signal)."""
_FAILURES = "keel.tool_failures"
_INPUT = "keel.handoff_input"
_ROUTE = "keel.route"

HANDED_OFF_REPLY = (
    "I've passed your conversation to a member of our team; they will reply here as soon "
    "as they can."
)
WAITING_REPLY = "A member of our team has your conversation and will reply here shortly."


class HumanHandoff(Middleware):
    """Escalate to people on the `policy`'s triggers; see the module doc. With a
    `router`, low routing confidence over consecutive turns is a trigger too."""

    def __init__(
        self,
        policy: EscalationPolicy | None = None,
        *,
        queue: HumanQueue | None = None,
        router: SemanticRouter | None = None,
        reply: str = HANDED_OFF_REPLY,
        waiting_reply: str = WAITING_REPLY,
    ) -> None:
        self.policy = policy or EscalationPolicy()
        self.queue = queue
        self.router = router
        self.reply = reply
        self.waiting_reply = waiting_reply
        self._queues: dict[str, HumanQueue] = {}

    async def on_input(self, ctx: RunContext, messages: list[Message]) -> list[Message] | Respond:
        if ctx.step > 0:
            return messages
        text = next((m.text for m in reversed(messages) if m.role == "user"), "")
        queue = self.queue_for(ctx)
        active = queue.active(ctx.session_id, tenant_id=ctx.principal.tenant_id)
        if active is not None:  # a person has this conversation: it goes to them
            queue.add_message(active.id, "customer", text, tenant_id=active.tenant_id)
            return Respond(self.waiting_reply)
        earlier = [m.text for m in await _history(ctx) if m.role == "user"]
        ctx.metadata[_INPUT] = text
        trigger = check_text(text, earlier, self.policy) or await self._low_confidence(ctx, text)
        if trigger is not None:
            ctx.metadata[ESCALATE_KEY] = {"kind": trigger.kind, "reason": trigger.reason}
        return messages

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        ctx = call.context
        _remember_trace(ctx)
        pending: dict[str, str] | None = ctx.metadata.pop(ESCALATE_KEY, None)
        if pending is None:
            return await call_next(call)
        trigger = Trigger(pending["kind"], pending["reason"])
        self._escalate(ctx, trigger, transcript_of(call.request.messages))
        call.note("short_circuit", f"handed to a person: {trigger.reason}")
        return ModelResponse(Message.assistant(self.reply), Usage(), "keel-human-handoff")

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        result = await call_next(call)
        meta = call.context.metadata
        failures = int(meta.get(_FAILURES, 0)) + 1 if result.is_error else 0
        meta[_FAILURES] = failures
        limit = self.policy.tool_failures
        if limit and failures >= limit:
            reason = f"{failures} tool calls failed in a row (last: {call.call.tool_name})"
            meta[ESCALATE_KEY] = {"kind": "tool_failures", "reason": reason}
        score = meta.pop(RETRIEVAL_SCORE_KEY, None)
        if isinstance(score, int | float) and score < self.policy.retrieval_floor:
            reason = f"no document matched well enough (best similarity {score:.2f})"
            meta[ESCALATE_KEY] = {"kind": "low_retrieval", "reason": reason}
        return result

    async def on_output(self, ctx: RunContext, message: Message) -> Message:
        if model_uncertain(message.text, self.policy):
            history = [*await _history(ctx), Message.user(str(ctx.metadata.get(_INPUT, "")))]
            trigger = Trigger("model_uncertain", "the agent said it is not sure")
            self._escalate(ctx, trigger, transcript_of([*history, message]))
        return message

    def queue_for(self, ctx: RunContext) -> HumanQueue:
        """The queue given, else one in the database of the runner's session store."""
        if self.queue is not None:
            return self.queue
        store: Any = getattr(ctx.runner, "session_store", None)
        db = getattr(store, "db", None)
        if not isinstance(db, SQLiteDatabase):
            db = SQLiteDatabase(":memory:")
        if db.path not in self._queues:
            self._queues[db.path] = HumanQueue(db)
        return self._queues[db.path]

    def _escalate(
        self, ctx: RunContext, trigger: Trigger, transcript: list[dict[str, str]]
    ) -> None:
        route = ctx.metadata.get(_ROUTE)
        item = HandoffItem(
            id=new_handoff_id(),
            session_id=ctx.session_id,
            trigger=trigger.kind,
            reason=trigger.reason,
            summary=summarize(transcript, trigger, ctx.agent_name, route),
            transcript=transcript,
            tenant_id=ctx.principal.tenant_id,
            user_id=ctx.principal.user_id,
            run_id=ctx.run_id,
            trace_id=ctx.metadata.get("keel.trace_id"),
            agent_name=ctx.agent_name,
        )
        opened = self.queue_for(ctx).open(item)
        ctx.metadata[HANDED_OFF_KEY] = opened.id

    async def _low_confidence(self, ctx: RunContext, text: str) -> Trigger | None:
        turns = self.policy.low_confidence_turns
        if self.router is None or turns <= 0 or ctx.runner is None or ctx.session_id is None:
            return None
        if self.router.classify(text).confident:
            return None
        earlier = await ctx.runner.run_store.list_runs(
            tenant_id=ctx.principal.tenant_id, session_id=ctx.session_id, limit=turns - 1
        )
        unsure = [r for r in earlier if r.metadata.get(_ROUTE, {}).get("decision") not in
                  (None, "confident")]  # fmt: skip
        if len(earlier) < turns - 1 or len(unsure) < turns - 1:
            return None
        return Trigger("low_confidence", f"the request could not be placed for {turns} turns")


async def _history(ctx: RunContext) -> list[Message]:
    store = getattr(ctx.runner, "session_store", None)
    if store is None or ctx.session_id is None:
        return []
    try:
        return await store.load(ctx.session_id, tenant_id=ctx.principal.tenant_id)
    except SessionNotFoundError:
        return []


def _remember_trace(ctx: RunContext) -> None:
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        ctx.metadata["keel.trace_id"] = format(span.trace_id, "032x")
