"""`SessionWindow`: the model sees a running summary plus the recent turns that fit a
token budget; the session keeps every message (a transformed request is a view).

Older turns are folded into the summary by a `Summarizer` (a model, the local one by
default). Folding is done in steps, not every turn: when the unsummarised part outgrows
the budget, the cut moves forward so that only about `keep_fraction` of the budget stays
verbatim — so a summary is made once per several turns, and each is stored (see
`keel.memory.summary`) and reused for the same prefix, after a restart too. The cut falls
only at a user message, never inside the current turn, so a tool call always travels with
its result. Large tool results of earlier turns are cut to `max_tool_result_chars` with a
note saying so.

Message positions in the request are positions in the session: put this middleware on
the agent (per agent) and not after another that drops history (such as `TrimHistory`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from keel.context import RunContext
from keel.exceptions import ConfigurationError
from keel.memory.summary import (
    InMemorySummaryStore,
    ModelSummarizer,
    StoredSummary,
    Summarizer,
    SummaryKey,
    SummaryStore,
    message_hash,
)
from keel.memory.tokens import TokenCounter, estimate_tokens, total_tokens
from keel.messages import Message, ModelResponse, Part, TextPart, ToolResultPart
from keel.middleware.base import Middleware, ModelCall, ModelHandler

__all__ = ["SessionWindow", "with_system_text"]

SUMMARY_HEADER = "Summary of the earlier conversation:"
MEASURED = 20_000
"""Messages whose measurements a window remembers before it starts afresh."""


class SessionWindow(Middleware):
    def __init__(
        self,
        *,
        max_tokens: int,
        summarizer: Summarizer | None = None,
        summaries: SummaryStore | None = None,
        keep_fraction: float = 0.5,
        max_tool_result_chars: int = 2_000,
        count_tokens: TokenCounter = estimate_tokens,
    ) -> None:
        if max_tokens < 64:
            raise ConfigurationError(f"max_tokens must be at least 64, got {max_tokens}")
        if not 0 < keep_fraction < 1:
            raise ConfigurationError(f"keep_fraction must be between 0 and 1, got {keep_fraction}")
        self.max_tokens = max_tokens
        self.summarizer = summarizer or ModelSummarizer()
        self.summaries: SummaryStore = summaries or InMemorySummaryStore()
        self.keep_tokens = int(max_tokens * keep_fraction)
        self.max_tool_result_chars = max_tool_result_chars
        self._count = count_tokens
        self._seen: dict[int, tuple[Message, int, bool]] = {}
        """id(message) -> (the message, its tokens, whether a tool result is too long).
        History messages are the same objects turn after turn (the session store caches
        them), so each is measured once; holding the message keeps its id valid."""

    def count(self, message: Message) -> int:
        return self._facts(message)[1]

    def _facts(self, message: Message) -> tuple[Message, int, bool]:
        seen = self._seen.get(id(message))
        if seen is not None and seen[0] is message:
            return seen
        if len(self._seen) >= MEASURED:
            self._seen.clear()
        limit = self.max_tool_result_chars
        long = message.role == "tool" and any(_too_long(p, limit) for p in message.parts)
        seen = self._seen[id(message)] = (message, self._count(message), long)
        return seen

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        messages = call.request.messages
        lead = _leading_system(messages)
        body = messages[lead:]
        summary, start = await self._fold(call, body)
        kept = self._trim_tool_results(body[start:], _current_turn(body) - start)
        if start == 0 and kept is None:
            return await call_next(call)
        shown = [*messages[:lead], *(kept if kept is not None else body[start:])]
        if summary:
            shown = with_system_text(shown, f"{SUMMARY_HEADER}\n{summary}")
        return await call_next(replace(call, request=replace(call.request, messages=shown)))

    async def _fold(self, call: ModelCall, body: Sequence[Message]) -> tuple[str, int]:
        """The summary to show and the index of the first message shown verbatim."""
        key = _key(call.context)
        stored = await self._stored(key, body)
        summary, folded = (stored.text, stored.folded) if stored else ("", 0)
        budget = self.max_tokens - (len(summary) + 3) // 4
        if total_tokens(body[folded:], self.count) <= budget:
            return summary, folded
        cut = self._cut(body, folded)
        if cut <= folded:
            return summary, folded
        summary = await self.summarizer.summarize(summary, body[folded:cut])
        fresh = StoredSummary(cut, message_hash(body[cut - 1]), summary)
        await self.summaries.put(key, fresh, user_id=call.context.principal.user_id)
        call.note("transform", f"messages {folded + 1}-{cut} folded into the summary")
        return summary, cut

    async def _stored(self, key: SummaryKey, body: Sequence[Message]) -> StoredSummary | None:
        for stored in await self.summaries.latest(key, at_most=len(body)):
            if message_hash(body[stored.folded - 1]) == stored.last_hash:
                return stored
        return None  # none, or only summaries of a conversation since cleared

    def _cut(self, body: Sequence[Message], folded: int) -> int:
        """Where the verbatim part should start: at a user message, keeping about
        `keep_tokens`, never later than the current turn's start."""
        current = _current_turn(body)
        used, start = 0, len(body)
        while start > folded:
            used += self.count(body[start - 1])
            if used > self.keep_tokens:
                break
            start -= 1
        for index in range(start, current):
            if body[index].role == "user":
                return index
        return current

    def _trim_tool_results(self, shown: Sequence[Message], current: int) -> list[Message] | None:
        """Earlier turns' tool results cut to size, or None when none needed it."""
        limit, changed = self.max_tool_result_chars, False
        out = list(shown)
        for i, message in enumerate(shown[: max(current, 0)]):
            if self._facts(message)[2]:
                out[i] = Message("tool", tuple(_trimmed(p, limit) for p in message.parts))
                changed = True
        return out if changed else None


def _key(ctx: RunContext) -> SummaryKey:
    session = ctx.session_id or f"run:{ctx.run_id}"
    return SummaryKey(ctx.principal.tenant_id, session, ctx.agent_name)


def _leading_system(messages: Sequence[Message]) -> int:
    count = 0
    while count < len(messages) and messages[count].role == "system":
        count += 1
    return count


def _current_turn(body: Sequence[Message]) -> int:
    """Index of the last user message: where the current turn starts."""
    for index in range(len(body) - 1, -1, -1):
        if body[index].role == "user":
            return index
    return 0


def _too_long(part: Part, limit: int) -> bool:
    return isinstance(part, ToolResultPart) and len(part.content) > limit


def _trimmed(part: Part, limit: int) -> Part:
    if not isinstance(part, ToolResultPart) or len(part.content) <= limit:
        return part
    dropped = len(part.content) - limit
    note = f"\n[trimmed: {dropped} more characters of this result are stored in the session]"
    return replace(part, content=part.content[:limit] + note)


def with_system_text(messages: Sequence[Message], text: str) -> list[Message]:
    """`messages` with `text` added to the first system message (one made if none)."""
    if messages and messages[0].role == "system":
        first = messages[0]
        merged = f"{first.text}\n\n{text}" if first.text else text
        return [Message("system", (TextPart(merged),)), *messages[1:]]
    return [Message.system(text), *messages]
