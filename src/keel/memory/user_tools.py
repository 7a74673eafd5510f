"""User memory for agents: a tool to save what the user says about themselves, and
`RecallMemory`, which puts the relevant facts before every model call."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from keel.context import RunContext
from keel.memory.user import FactMemory, Provenance
from keel.memory.window import with_system_text
from keel.messages import ModelResponse
from keel.middleware.base import Middleware, ModelCall, ModelHandler
from keel.tools.tool import FunctionTool, make_tool

__all__ = ["MEMORY_HEADER", "RecallMemory", "remember_tool"]

MEMORY_HEADER = "What you know about this user from earlier conversations:"


def remember_tool(memory: FactMemory, *, name: str = "remember") -> FunctionTool:
    async def remember(
        fact: str,
        ctx: RunContext,
        key: str | None = None,
        preference: bool = False,
        ttl_days: float | None = None,
    ) -> str:
        """Save a fact or preference about the user for later conversations.

        Args:
            fact: The fact, in one sentence ("Prefers email over phone").
            key: A short topic ("contact_channel"); a newer fact with the same key
                replaces the older one.
            preference: True for a preference rather than a fact.
            ttl_days: Forget it after this many days (default: keep).
        """
        if ctx.principal.user_id is None:
            return "not saved: this conversation has no known user"
        saved = await asyncio.to_thread(
            memory.remember,
            ctx.principal,
            fact,
            key=key,
            kind="preference" if preference else "fact",
            ttl_s=None if ttl_days is None else ttl_days * 86_400,
            source=Provenance(ctx.session_id, ctx.run_id, None),
        )
        return f"saved ({saved.id})"

    return make_tool(remember, name=name, idempotent=False)


class RecallMemory(Middleware):
    """Adds the user's facts relevant to their latest message to the instructions."""

    def __init__(self, memory: FactMemory, *, budget_tokens: int = 200) -> None:
        self.memory, self.budget_tokens = memory, budget_tokens

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        principal = call.context.principal
        users = [m for m in call.request.messages if m.role == "user"]
        if principal.user_id is None or not users:
            return await call_next(call)
        facts = await asyncio.to_thread(
            self.memory.recall, principal, users[-1].text, budget_tokens=self.budget_tokens
        )
        if not facts:
            return await call_next(call)
        text = MEMORY_HEADER + "\n" + "\n".join(f"- {f.text}" for f in facts)
        messages = with_system_text(call.request.messages, text)
        return await call_next(replace(call, request=replace(call.request, messages=messages)))
