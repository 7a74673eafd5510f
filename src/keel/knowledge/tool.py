"""Retrieval for agents: a tool the agent decides to call (`knowledge_tool`), or
`AlwaysRetrieve`, which adds the top passages for the user's message to every turn.

Both speak the same text: numbered passages, each with its citation, or — below the
similarity floor — a plain statement that nothing relevant was found, so the agent says
it does not know (or escalates) instead of answering from nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from keel.context import RunContext
from keel.knowledge.base import KnowledgeBase, SearchResult
from keel.memory.window import with_system_text
from keel.messages import ModelResponse
from keel.middleware.base import Middleware, ModelCall, ModelHandler
from keel.tools.tool import FunctionTool, make_tool

__all__ = ["NOTHING_FOUND", "AlwaysRetrieve", "format_results", "knowledge_tool"]

NOTHING_FOUND = "NOTHING FOUND"


def format_results(result: SearchResult) -> str:
    if result.found_nothing:
        return (
            f"{NOTHING_FOUND}: the knowledge base has nothing relevant to {result.query!r}. "
            "Do not guess: say you do not know, or hand over to a person."
        )
    blocks = [f"[{n}] {hit.citation}\n{hit.text}" for n, hit in enumerate(result.hits, 1)]
    return "Passages from the knowledge base (cite them by number):\n\n" + "\n\n".join(blocks)


def knowledge_tool(
    kb: KnowledgeBase,
    *,
    k: int = 4,
    min_similarity: float = 0.3,
    name: str = "search_knowledge",
    description: str = "Search the knowledge base for passages that answer a question.",
) -> FunctionTool:
    async def search_knowledge(query: str, ctx: RunContext) -> str:
        """Search the knowledge base.

        Args:
            query: What to look for, in a few words or a question.
        """
        result = await asyncio.to_thread(
            kb.search,
            query,
            tenant_id=ctx.principal.tenant_id,
            k=k,
            min_similarity=min_similarity,
        )
        return format_results(result)

    return make_tool(search_knowledge, name=name, description=description, read_only=True)


class AlwaysRetrieve(Middleware):
    """Every model call sees the passages for the run's latest user message."""

    def __init__(self, kb: KnowledgeBase, *, k: int = 3, min_similarity: float = 0.3) -> None:
        self.kb, self.k, self.min_similarity = kb, k, min_similarity
        self._last: tuple[str, str, str] | None = None  # (tenant, query, text) of the last call

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        users = [m for m in call.request.messages if m.role == "user" and m.text.strip()]
        if not users:
            return await call_next(call)
        text = await self._passages(call.context.principal.tenant_id, users[-1].text)
        messages = with_system_text(call.request.messages, text)
        return await call_next(replace(call, request=replace(call.request, messages=messages)))

    async def _passages(self, tenant_id: str, query: str) -> str:
        if self._last is not None and self._last[:2] == (tenant_id, query):
            return self._last[2]  # later steps of the same turn: no second search
        result: Any = await asyncio.to_thread(
            self.kb.search, query, tenant_id=tenant_id, k=self.k, min_similarity=self.min_similarity
        )
        text = format_results(result)
        self._last = (tenant_id, query, text)
        return text
